"""`rmsweep run train` and `rmsweep run reproduce` end to end: real veRL jobs on the CPU.

One small training run is shared by the module (a few GRPO steps of the tiny model); the
tests read its record back through MlflowClient as a user would in the MLflow UI.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from rmsweep import names

SECRET_ENV = "RMSWEEP_TEST_API_TOKEN"
REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_BENCH = REPO / "evalsets" / "synthetic-rmbench"
# Judged after training, in the job: 6 rows of the synthetic RM-Bench (54 comparisons).
EVAL = (f"eval.rmbench={SYNTHETIC_BENCH}", "eval.limit=6")


def rmsweep(home: Path, *args: str, env: dict[str, str] | None = None):
    full_env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")
    }
    full_env.update({"RMSWEEP_HOME": str(home), **(env or {})})
    cli = Path(sys.executable).with_name("rmsweep")
    return subprocess.run(
        [str(cli), *args], env=full_env, capture_output=True, text=True, timeout=1200
    )


@pytest.fixture(scope="module")
def trained(new_home, small_run: list[str]):
    home = new_home("train")
    secret = "s3cr3t-" + secrets.token_hex(12)
    overrides = [*small_run, *EVAL]
    proc = rmsweep(home, "run", "train", *overrides, env={SECRET_ENV: secret})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    [run] = client.search_runs(
        [client.get_experiment_by_name("rmsweep").experiment_id], max_results=10
    )
    return home, client, run, secret, overrides


def test_run_is_recorded_with_tags_params_and_state(trained) -> None:
    _, _, run, _, _ = trained
    tags, params = run.data.tags, run.data.params
    assert run.info.status == "FINISHED"
    assert tags[names.TAG_STATE] == "complete"
    assert tags[names.TAG_DEVICE] == "cpu"
    assert tags[names.TAG_TEMPLATE] == "pointwise_plain"
    assert tags[names.TAG_REWARD_SHAPE] == "exact"
    assert tags[names.TAG_JOB_ID]
    assert tags[names.TAG_VERSION]
    for digest in ("code", "reward", "template", "data.train", "data.val", "config"):
        assert len(tags[names.DIGEST_TAG_PREFIX + digest]) == 64, digest
    assert params["trainer.total_steps"] == "3"
    assert params["reward.shape"] == "exact"
    assert params["template.name"] == "pointwise_plain"


def test_artifacts_and_dataset_inputs(trained) -> None:
    _, client, run, _, _ = trained
    run_id = run.info.run_id
    listed = {
        a.path
        for d in ("config", "reward", "template", "job", "env")
        for a in client.list_artifacts(run_id, d)
    }
    for path in (
        "config/resolved.yaml",
        "config/overrides.txt",
        "reward/reward_fns.py",
        "template/template.txt",
        "job/job.log",
        "env/requirements.txt",
    ):
        assert path in listed, path
    resolved = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config/resolved.yaml")
    assert "total_steps: 3" in resolved
    inputs = {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs}
    assert (
        inputs["synthetic-train"][:8] == run.data.tags[names.DIGEST_TAG_PREFIX + "data.train"][:8]
    )


def test_verl_logged_train_and_validation_metrics_into_the_run(trained) -> None:
    _, client, run, _, _ = trained
    acc = client.get_metric_history(run.info.run_id, names.metric_key("val/acc", "synthetic"))
    assert sorted(p.step for p in acc) == [0, 2, 3]  # before training, every 2 steps, at the end
    reward = client.get_metric_history(
        run.info.run_id, names.metric_key("train/reward", "synthetic")
    )
    assert sorted(p.step for p in reward) == [1, 2, 3]
    shares = [names.metric_key(f"val/pred_{i}", "synthetic") for i in (*range(5), "none")]
    total = sum(run.data.metrics[k] for k in shares)
    assert total == pytest.approx(1.0)
    entropy = client.get_metric_history(
        run.info.run_id, names.metric_key("val/pred_entropy", "synthetic")
    )
    assert len(entropy) == 3 and all(p.value >= 0 for p in entropy)


def test_the_run_reads_in_rmsweeps_words_in_the_mlflow_ui(trained) -> None:
    """Params: rmsweep's dotted keys (veRL's config is one artifact); metrics: the short names
    too, step by step; the template: a Prompt Registry version."""
    _, client, run, _, _ = trained
    run_id = run.info.run_id
    assert [key for key in run.data.params if "/" in key] == []
    assert 40 < len(run.data.params) < 200
    verl_yaml = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config/verl.yaml")
    assert "actor_rollout_ref:" in verl_yaml and "total_training_steps: 3" in verl_yaml

    def steps(key: str) -> list[int]:
        return sorted(p.step for p in client.get_metric_history(run_id, key))

    for short in ("val/acc", "val/abs_error", "val/parsed", "val/pred_0", "val/pred_entropy"):
        assert steps(short) == [0, 2, 3], short
    assert steps("train/reward") == steps("train/response_length") == [1, 2, 3]
    acc = names.metric_key("val/acc", "synthetic")
    assert run.data.metrics["val/acc"] == run.data.metrics[acc]
    assert run.data.tags["rmsweep.prompt"] == "prompts:/rmsweep-pointwise_plain/1"


def test_secret_values_are_nowhere_in_the_store(trained) -> None:
    home, _, _, secret, _ = trained
    hits = [p for p in home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert hits == []


def test_reproduce_matches_exactly(trained) -> None:
    home, client, run, _, _ = trained
    proc = rmsweep(home, "run", "reproduce", run.info.run_id)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "final metrics identical" in proc.stdout
    [new] = client.search_runs(
        [run.info.experiment_id], f"tags.`{names.TAG_REPRODUCES}` = '{run.info.run_id}'"
    )
    key = names.metric_key("val/acc", "synthetic")
    assert new.data.metrics[key] == run.data.metrics[key]


def test_reproduce_refuses_on_changed_digest(trained) -> None:
    home, client, run, _, _ = trained
    other = client.create_run(run.info.experiment_id)
    for key, value in run.data.tags.items():
        if not key.startswith("mlflow."):
            client.set_tag(other.info.run_id, key, value)
    client.set_tag(other.info.run_id, names.DIGEST_TAG_PREFIX + "reward", "0" * 64)
    resolved = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config/resolved.yaml")
    client.log_text(other.info.run_id, resolved, "config/resolved.yaml")
    proc = rmsweep(home, "run", "reproduce", other.info.run_id)
    assert proc.returncode != 0
    assert re.search(r"\breward\b.* changed since it ran", proc.stderr)
    assert "--force" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    client.set_terminated(other.info.run_id)


def test_ctrl_c_stops_the_job_and_marks_the_run_killed(trained) -> None:
    import signal
    import time

    home, client, run, _, _ = trained
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["RMSWEEP_HOME"] = str(home)
    cli = Path(sys.executable).with_name("rmsweep")
    # Same inputs as the module's run, so data and model come from the cache.
    proc = subprocess.Popen(
        [str(cli), "run", "train", *trained[4], "trainer.total_steps=50", "run_name=interrupted"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    query = "attributes.run_name = 'interrupted'"
    deadline = time.monotonic() + 600
    job_running = False
    while time.monotonic() < deadline and proc.poll() is None:
        runs = client.search_runs([run.info.experiment_id], query)
        # veRL's first validation metric means the job is past start-up and training.
        if runs and names.metric_key("val/acc", "synthetic") in runs[0].data.metrics:
            job_running = True
            break
        time.sleep(0.5)  # polling the store for a condition, not waiting for a fixed time
    assert job_running, proc.communicate()[1][-3000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    [killed] = client.search_runs([run.info.experiment_id], query)
    assert killed.info.status == "KILLED"
    assert killed.data.tags[names.TAG_STATE] == "killed"
    assert killed.data.tags[names.TAG_JOB_STATUS] == "STOPPED"


def test_the_trained_model_is_kept_and_found_from_the_run_id(trained, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from rmsweep import checkpoint

    _, client, run, _, _ = trained
    kept = Path(run.data.tags[names.TAG_CHECKPOINT])
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in kept.iterdir()
    }
    assert not (kept.parent / "verl").exists()  # veRL's own checkpoint folder is cleared
    assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")]
    assert checkpoint.locate(client, run.info.run_id, download_to=tmp_path) == kept
    model = AutoModelForCausalLM.from_pretrained(kept, dtype="auto")
    assert model.num_parameters() > 100_000


def test_the_job_judged_the_trained_model_on_the_benchmark(trained) -> None:
    _, client, run, _, _ = trained
    metrics = run.data.metrics
    for key in ("eval/rmbench/avg", "eval/rmbench/synthetic/hard", "baseline/length/rmbench/avg"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["eval/rmbench/n"] == 54  # 6 rows x 9 style cells
    [point] = client.get_metric_history(run.info.run_id, "eval/rmbench/avg")
    assert point.step == 3  # the step of the model it judged: the last
    inputs = {d.dataset.name for d in run.inputs.dataset_inputs}
    assert "rmbench-eval" in inputs
    listed = {a.path for a in client.list_artifacts(run.info.run_id, "eval")}
    assert {"eval/judgments.json", "eval/scores.json"} <= listed


def test_rmsweep_eval_judges_a_run_by_its_id_and_logs_into_it(trained, tmp_path: Path) -> None:
    import json

    home, client, run, _, _ = trained
    fixture = REPO / "tests" / "fixtures" / "benchmarks" / "rmbench"
    out = tmp_path / "scores.json"
    proc = rmsweep(
        home,
        "eval",
        "--model",
        run.info.run_id,
        "--bench",
        f"rmbench={fixture}",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scores = json.loads(out.read_text())["scores"]
    logged = client.get_run(run.info.run_id).data.metrics
    assert logged["eval/rmbench/chat/hard"] == pytest.approx(scores["rmbench.chat.hard"])
    assert logged["eval/rmbench/safety/avg"] == pytest.approx(scores["rmbench.safety.avg"])
    assert f"logged into MLflow run {run.info.run_id}" in proc.stdout
