"""The order a CPU trial starts in: the hf rollout server before the trainer's worker, and
MLflow's store opened while veRL's driver waits.

``start_server_early`` starts a one-replica run's server as soon as veRL's driver has Ray;
the replica veRL builds later adopts that very actor instead of starting a second one. Runs
on a real local Ray with the tiny model and veRL's own composed config.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from rmsweep.launch._head import LOOPBACK_ENV
from rmsweep.tiny_model import save_untrained
from rmsweep.verl_cpu import cpu_env, cpu_overrides, register


@pytest.fixture(scope="module")
def local_ray():
    import ray

    os.environ.update({**LOOPBACK_ENV, **cpu_env()})  # the actors inherit the driver's env
    register()  # this process imported the extension before veRL
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _config(model: Path, *overrides: str):
    import verl
    from hydra import compose, initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[*cpu_overrides(), f"actor_rollout_ref.model.path={model}", *overrides],
        )


def test_the_replica_adopts_the_server_started_early(local_ray, tmp_path: Path) -> None:
    from rmsweep.verl_cpu.rollout import HFReplica, server_actor_name, start_server_early

    config = _config(save_untrained(tmp_path / "tiny", ["A tiny corpus of words."], seed=0))
    start_server_early(config)
    early = local_ray.get_actor(server_actor_name(0))

    @local_ray.remote(num_cpus=0)
    class TrainerWorker:  # the replica asks its first worker only where it runs
        def __init__(self) -> None:
            from rmsweep.verl_cpu import register

            register()  # as veRL's worker module does on import

    replica = HFReplica(
        replica_rank=0,
        config=config.actor_rollout_ref.rollout,
        model_config=config.actor_rollout_ref.model,
        gpus_per_node=1,
    )
    replica.workers = [TrainerWorker.remote()]
    asyncio.run(replica.launch_servers())

    # the same actor (a second one under the server's name could not have started)
    assert replica.server_handle._actor_id == early._actor_id
    assert local_ray.get(early.batch_sizes.remote()) == []  # alive, nothing generated yet
    local_ray.kill(early)


def test_nothing_starts_early_for_more_than_one_replica(local_ray, tmp_path: Path) -> None:
    from rmsweep.verl_cpu.rollout import server_actor_name, start_server_early

    model = save_untrained(tmp_path / "tiny", ["A tiny corpus of words."], seed=0)
    start_server_early(_config(model, "trainer.n_gpus_per_node=2"))
    with pytest.raises(ValueError):
        local_ray.get_actor(server_actor_name(0))


def test_the_driver_opens_the_mlflow_store_while_it_waits(tmp_path: Path, monkeypatch) -> None:
    from omegaconf import OmegaConf

    from rmsweep.verl_cpu.main_ppo import _warm_up_tracking

    db = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    assert _warm_up_tracking(OmegaConf.create({"trainer": {"logger": ["console"]}})) is None

    warm_up = _warm_up_tracking(OmegaConf.create({"trainer": {"logger": ["console", "mlflow"]}}))
    assert warm_up is not None
    warm_up.join(timeout=120)
    assert db.exists()  # the store was built (its tables created) before veRL's tracker asks
