"""rmsweep's hook into veRL's MLflow tracking, driving veRL's own ``Tracking`` class.

The hook is what ``import verl`` loads in every process of a run (VERL_USE_EXTERNAL_MODULES):
here veRL's real ``Tracking`` opens a real sqlite run the way its trainer does (``MLFLOW_RUN_ID``)
and logs one validation step. The end-to-end check on a real CPU job is
tests/integration/test_run_train.py.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from rmsweep import names, verl, verl_mlflow
from rmsweep.config import compose
from rmsweep.tracking import tracking_client

SECRET = "hunter2-not-for-mlflow"
VERL_CONFIG = {
    "trainer": {"project_name": "p", "experiment_name": "p-run", "logger": ["console", "mlflow"]},
    "actor_rollout_ref": {"model": {"path": "/models/tiny"}, "rollout": {"n": 4}},
    "ray_kwargs": {"ray_init": {"runtime_env": {"env_vars": {"DB_PASSWORD": SECRET}}}},
}
STEP_0 = {
    "val-core/synthetic/acc/mean@1": 0.5,
    "val-aux/synthetic/pred_0/mean@1": 0.5,
    "val-aux/synthetic/pred_none/mean@1": 0.5,
}


def test_veRL_logs_its_config_as_an_artifact_and_short_names_beside_its_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verl.utils.tracking import Tracking

    verl_mlflow.install()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking_client(uri)
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    monkeypatch.setenv(verl_mlflow.DATA_SOURCE_ENV, "synthetic")
    tracker = Tracking("p", "p-run", default_backend=["mlflow"], config=VERL_CONFIG)
    try:
        tracker.log(STEP_0, step=0)
        tracker.log({"critic/score/mean": 0.25}, step=1)
    finally:
        tracker.finish()
        mlflow.set_tracking_uri(None)
    run = client.get_run(run_id)
    assert run.data.params == {}  # not veRL's ~970 '/'-keyed params
    artifact = run.info.artifact_uri + "/" + names.VERL_CONFIG_ARTIFACT
    text = mlflow.artifacts.load_text(artifact)
    assert "path: /models/tiny" in text and "experiment_name: p-run" in text
    assert SECRET not in text
    assert list(run.data.metrics)[0] == "val/acc"  # first: the compare view plots it by default
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val/acc")] == [(0, 0.5)]
    assert run.data.metrics["val-core/synthetic/acc/mean_at_1"] == 0.5  # veRL's key stays
    assert run.data.metrics["val/pred_entropy"] == pytest.approx(0.6931, abs=1e-4)
    assert [m.step for m in client.get_metric_history(run_id, "train/reward")] == [1]


@pytest.mark.parametrize(
    ("overrides", "modules"),
    [
        ([], ["rmsweep.verl_mlflow", "rmsweep.verl_cpu"]),
        (["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"], ["rmsweep.verl_mlflow"]),
        (
            ["device=gpu", "device.rollout=hf", "model=qwen3_8b", "trainer=grpo_gpu"],
            ["rmsweep.verl_mlflow", "rmsweep.verl_cpu"],
        ),
    ],
)
def test_every_device_loads_the_hook_in_every_veRL_process(
    workdir: Path, tmp_path: Path, overrides: list[str], modules: list[str]
) -> None:
    cfg = compose(overrides)
    inputs = verl.JobInputs(
        train_file=tmp_path / "train.parquet",
        val_file=tmp_path / "val.parquet",
        model_path=str(tmp_path / "model"),
        run_id="0123456789abcdef",
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        checkpoint_dir=tmp_path / "ckpt",
    )
    env = verl.job_env(cfg, inputs)
    assert env["VERL_USE_EXTERNAL_MODULES"].split(",") == modules
    assert env[verl_mlflow.DATA_SOURCE_ENV] == cfg.data.name
    # ... and the Ray actors get the same variables through ray_init's runtime_env.
    actor_env = "++ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES="
    passed = [o for o in verl.main_ppo_overrides(cfg, inputs) if o.startswith(actor_env)]
    assert [o.removeprefix(actor_env) for o in passed] == [verl.hydra_value(",".join(modules))]
