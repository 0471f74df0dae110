"""veRL's ``main_ppo`` with its task runner in the driver's own process (``device=cpu``).

``python -m rmsweep.verl_cpu.main_ppo <overrides>`` takes ``verl.trainer.main_ppo``'s command
line and runs its ``main``, unchanged but for one thing: veRL starts a Ray actor only to run
``TaskRunnerV1.run`` while the driver waits on it. On a host of two cores that actor is one
more process importing veRL (≈5 CPU s of the trial's start-up); here the driver, which has
veRL imported already, runs the same ``run`` itself. The actors it starts (workers, rollout
server, TransferQueue) are the same Ray actors as before; the rollout server starts first
(:func:`rmsweep.verl_cpu.rollout.start_server_early`). Once training has
ended well, the process stops its Ray and exits without the interpreter's slow teardown.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import ray
from omegaconf import DictConfig, OmegaConf

from rmsweep.verl_cpu import register

# This process imported the package before veRL: nothing was registered then. Not the cpu
# engines yet: it builds none, and their import (~0.6 s) would come before the rollout server.
register(engines=False)

from verl.trainer import main_ppo  # noqa: E402
from verl.trainer.constants_ppo import get_ppo_ray_runtime_env  # noqa: E402

from rmsweep.verl_cpu.rollout import start_server_early  # noqa: E402

_ActorRunner: Any = main_ppo.TaskRunnerV1


class InProcessTaskRunner:
    """Stands in for ``TaskRunnerV1`` in ``run_ppo``: ``.remote()`` builds it here, and
    ``run.remote(config)`` runs the training in this process and returns a ready ref."""

    def __init__(self) -> None:
        self._runner = _ActorRunner.__ray_actor_class__()

    @classmethod
    def remote(cls) -> InProcessTaskRunner:
        return cls()

    @property
    def run(self) -> _RunCall:
        return _RunCall(self._runner)


class _RunCall:
    def __init__(self, runner: Any) -> None:
        self._runner = runner

    def remote(self, config: DictConfig) -> ray.ObjectRef[Any]:
        _adopt_actor_env(config)
        start_server_early(config)
        _warm_up_tracking(config)
        return ray.put(self._runner.run(config))


def _adopt_actor_env(config: DictConfig) -> None:
    """Give this process the variables veRL's actor would have had (its runtime_env)."""
    env = OmegaConf.to_container(
        OmegaConf.merge(
            get_ppo_ray_runtime_env(config),
            config.ray_kwargs.get("ray_init", {}).get("runtime_env", {}),
        ),
        resolve=True,
    )
    assert isinstance(env, dict)
    values = {"TRANSFER_QUEUE_ENABLE": "1", **(env.get("env_vars") or {})}
    for key, value in values.items():
        os.environ.setdefault(str(key), str(value))


def _warm_up_tracking(config: DictConfig) -> threading.Thread | None:
    """Import MLflow and open its store in the background: veRL's tracker needs them after the
    trainer's worker is up, and until then this process mostly waits on Ray."""
    if "mlflow" not in (config.trainer.get("logger") or []):
        return None

    def warm_up() -> None:
        try:
            import mlflow

            mlflow.MlflowClient().search_experiments(max_results=1)  # builds the cached store
        except Exception:  # noqa: BLE001 - veRL's tracker meets and reports the same failure
            pass

    thread = threading.Thread(target=warm_up, name="mlflow-warm-up", daemon=True)
    thread.start()
    return thread


def _exit_now() -> None:
    """Leave once training is done and recorded, without the interpreter's ~2 s of teardown
    (threads of TransferQueue, ZeroMQ and MLflow joined one by one, module finalisers)."""
    import logging
    import sys

    ray.shutdown()  # stops the job's own Ray: nothing may outlive the job
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    # main() looks it up at call time; mypy never lets a module's class be rebound
    main_ppo.TaskRunnerV1 = InProcessTaskRunner  # type: ignore[misc, assignment]
    main_ppo.main()  # a failure raises (Hydra exits 1) and never reaches the fast exit
    _exit_now()
