"""The job's steps after veRL: export and record the model, judge it, or fail with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rmsweep import names
from rmsweep.evaluation import EvalSettings
from rmsweep.job import after_training
from rmsweep.templates import load_template
from rmsweep.tiny_model import save_untrained
from rmsweep.verl import JobSpec

REPO = Path(__file__).resolve().parents[2]
RMBENCH = REPO / "tests" / "fixtures" / "benchmarks" / "rmbench"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("m") / "m"
    return save_untrained(out, ["Rate it. <score>2</score>"], hidden_size=16, num_layers=1)


@pytest.fixture
def job(tmp_path: Path, small_model: Path, monkeypatch: pytest.MonkeyPatch):
    """A finished training's leftovers: veRL's checkpoint folder and a run with 3 steps."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("j", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    for step in (1, 2, 3):
        client.log_metric(run_id, "training/global_step", step, step=step)
    shutil.copytree(small_model, tmp_path / "verl" / "global_step_3" / "actor" / "huggingface")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)

    def spec(benches: dict[str, str]) -> JobSpec:
        settings = EvalSettings(
            benches=benches, template=load_template("pointwise_plain"), max_new_tokens=4
        )
        return JobSpec(
            trainer_args=[],
            verl_checkpoint_dir=str(tmp_path / "verl"),
            model_dir=str(tmp_path / "model"),
            artifact_max_mb=64,
            eval=settings.to_dict(),
        )

    yield client, run_id, spec, tmp_path
    client.set_terminated(run_id)


def test_the_model_is_kept_then_judged_at_the_last_step(job) -> None:
    client, run_id, spec, tmp_path = job
    assert after_training(spec({"rmbench": str(RMBENCH)})) == 0
    run = client.get_run(run_id)
    assert run.data.tags[names.TAG_CHECKPOINT] == str(tmp_path / "model")
    [point] = client.get_metric_history(run_id, "eval/rmbench/avg")
    assert point.step == 3
    assert names.TAG_REASON not in run.data.tags


def test_a_failed_evaluation_fails_the_job_with_the_reason_on_the_run(job) -> None:
    client, run_id, spec, tmp_path = job
    assert after_training(spec({"rmbench": str(tmp_path / "gone")})) == 1
    run = client.get_run(run_id)
    reason = run.data.tags[names.TAG_REASON]
    assert reason.startswith("evaluating the trained model failed: DataError: rmbench: no such")
    assert names.TAG_CHECKPOINT in run.data.tags  # the model was kept before judging failed
    assert not any(k.startswith("eval/") for k in run.data.metrics)
