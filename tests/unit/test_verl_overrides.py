"""Our main_ppo overrides compose against veRL's own installed ppo_trainer config.

Hydra rejects an override of a key veRL does not have, so a typo (or a key veRL renamed)
fails here instead of being silently ignored by a training run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rmsweep import verl
from rmsweep.config import compose
from rmsweep.overrides import hydra_value


def _inputs(tmp_path: Path) -> verl.JobInputs:
    return verl.JobInputs(
        train_file=tmp_path / "train.parquet",
        val_file=tmp_path / "val.parquet",
        model_path=str(tmp_path / "model"),
        run_id="0123456789abcdef",
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        checkpoint_dir=tmp_path / "ckpt",
    )


def _compose_verl(overrides: list[str]):
    import verl as verl_pkg
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl_pkg.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["reward=exponential", "reward.k=4"],
        ["data=ultrafeedback_pairwise", "template=pairwise_verdict", "reward=pairwise_binary"],
        ["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"],
    ],
)
def test_overrides_compose_against_installed_verl(workdir: Path, tmp_path: Path, overrides) -> None:
    cfg = compose(overrides)
    inputs = _inputs(tmp_path)
    composed = _compose_verl(verl.main_ppo_overrides(cfg, inputs))
    assert composed.algorithm.adv_estimator == "grpo"
    assert composed.actor_rollout_ref.actor.optim.lr == cfg.trainer.lr
    assert composed.actor_rollout_ref.rollout.n == cfg.trainer.rollout_n
    assert composed.actor_rollout_ref.rollout.name == cfg.device.rollout
    assert composed.data.train_files == str(inputs.train_file)
    assert composed.trainer.total_training_steps == cfg.trainer.total_steps
    assert composed.trainer.resume_mode == "disable"
    assert Path(composed.trainer.default_local_dir).is_absolute()
    assert list(composed.trainer.logger) == ["console", "mlflow"]
    reward = composed.reward.custom_reward_function
    assert reward.path == str(verl.reward_fn_file(cfg)) and Path(reward.path).is_file()
    assert OmegaConf.to_container(reward.reward_kwargs) == verl.reward_kwargs(cfg)
    env = OmegaConf.to_container(composed.ray_kwargs.ray_init.runtime_env.env_vars)
    assert env["MLFLOW_RUN_ID"] == inputs.run_id
    assert env["MLFLOW_TRACKING_URI"] == inputs.tracking_uri


@pytest.mark.parametrize(
    ("device", "module"), [("cpu", "rmsweep.verl_cpu.main_ppo"), ("gpu", "verl.trainer.main_ppo")]
)
def test_cpu_jobs_run_verls_task_runner_in_the_driver(
    workdir: Path, tmp_path: Path, device: str, module: str
) -> None:
    spec = verl.job_spec(compose([f"device={device}"]), _inputs(tmp_path))
    assert spec.trainer_module == module
    assert verl.JobSpec(**json.loads(spec.to_json())).trainer_module == module


@pytest.mark.parametrize(
    ("overrides", "private"),
    [
        ([], False),  # cluster=local: the local head the launcher starts
        (["cluster=ray", "cluster.address=http://127.0.0.1:8265"], True),
        (["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"], False),
    ],
)
def test_cpu_jobs_join_the_local_head_and_start_a_ray_elsewhere(
    workdir: Path, tmp_path: Path, overrides: list[str], private: bool
) -> None:
    from rmsweep.verl_cpu import JOB_CPUS

    cfg = compose(overrides)
    ray_init = _compose_verl(verl.main_ppo_overrides(cfg, _inputs(tmp_path))).ray_kwargs.ray_init
    assert (ray_init.get("address") == "local") is private
    assert ray_init.num_cpus == (JOB_CPUS if private else None)
    assert (ray_init.get("num_gpus") == 1) is private
    assert verl.joins_local_head(cfg) is (cfg.device.name == "cpu" and not private)


@pytest.mark.parametrize(("jobs", "cpus", "gpus"), [(1, 16, 1), (3, 48, 3)])
def test_a_local_head_for_cpu_jobs_advertises_their_logical_resources(
    workdir: Path, jobs: int, cpus: int, gpus: int
) -> None:
    from rmsweep.run import make_launcher

    launcher = make_launcher(compose(["device=cpu"]), jobs_at_once=jobs)
    try:
        assert launcher._head is not None  # started on the first submit; nothing runs yet
        assert (launcher._head.num_cpus, launcher._head.num_gpus) == (cpus, gpus)
    finally:
        launcher.close()
    gpu = make_launcher(compose(["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"]))
    try:
        assert gpu._head is not None and gpu._head.num_gpus is None  # Ray detects real ones
    finally:
        gpu.close()


@pytest.mark.parametrize(("parallel", "gpus"), [(None, 1), (3, 3)])
def test_a_cpu_study_sizes_its_local_head_for_its_slots(
    workdir: Path, parallel: int | None, gpus: int
) -> None:
    from rmsweep.study._runner import VerlTrialRunner, study_slots

    runner = VerlTrialRunner(["device=cpu"])
    try:
        assert study_slots(runner, parallel) == gpus  # cpu: 1 slot unless the spec says
        assert runner.launcher._head.num_gpus == gpus  # not started: sized only
    finally:
        runner.close()


def test_native_thinking_sets_enable_thinking(workdir: Path, tmp_path: Path) -> None:
    cfg = compose(["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu", "template.thinking=true"])
    composed = _compose_verl(verl.main_ppo_overrides(cfg, _inputs(tmp_path)))
    assert composed.data.apply_chat_template_kwargs.enable_thinking is True


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (3, "3"),
        (1e-3, "0.001"),
        ("/a/b.parquet", "/a/b.parquet"),
        ("sqlite:////x/y.db", "sqlite:////x/y.db"),
        ("it's, odd", "'it\\'s, odd'"),
        ("1e-3", "'1e-3'"),
        (["console", "mlflow"], "[console,mlflow]"),
    ],
)
def test_hydra_value_quotes_what_needs_it(value, text) -> None:
    assert hydra_value(value) == text


@pytest.mark.parametrize(
    ("attention", "padding_removed"), [("flash_attention_2", True), ("sdpa", False)]
)
def test_gpu_attention_reaches_verls_model_config(
    workdir: Path, tmp_path: Path, attention: str, padding_removed: bool
) -> None:
    cfg = compose(
        ["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu", f"device.attention={attention}"]
    )
    model = _compose_verl(verl.main_ppo_overrides(cfg, _inputs(tmp_path))).actor_rollout_ref.model
    # veRL's default is flash-attention 2 (HFModelConfig), with remove-padding on
    assert model.override_config.get("attn_implementation", "flash_attention_2") == attention
    assert model.use_remove_padding is padding_removed


def test_flash_attention_on_a_cpu_is_refused(workdir: Path) -> None:
    from rmsweep.errors import ConfigError

    with pytest.raises(ConfigError, match="device.attention='flash_attention_2' needs a GPU"):
        compose(["device.attention=flash_attention_2"])
