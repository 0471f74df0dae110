"""`rmsweep study …` as a user runs it: real processes, Ctrl-C, resume, workers, reports.

Trials are sleep jobs (``--runner sleep-local``: SleepJobRunner on local processes), so these
tests exercise the controller, the stores and the CLI, not training.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import psutil
import pytest
from conftest import postgres_databases
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.study._storage import open_storage

CLI = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study"]


def cli_env(home: Path, step_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home), RMSWEEP_SLEEP_STEP_S=str(step_s), PYTHONUNBUFFERED="1")
    env.pop("RMSWEEP_STORAGE", None)
    return env


def write_spec(path: Path, name: str, body: str) -> Path:
    path.write_text(f"# test spec\nname: {name}\n{body}")
    return path


def read_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> None:
    """Read the controller's output line by line until ``marker`` starts a line."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith(marker):
            return
    pytest.fail(f"the controller ended before printing {marker!r}: {seen[-20:]}")


def runs_by_trial(client: MlflowClient, parent: str) -> dict[int, list]:
    experiment = client.get_run(parent).info.experiment_id
    found: dict[int, list] = {}
    for run in client.search_runs([experiment], f"tags.`{names.TAG_PARENT}` = '{parent}'"):
        found.setdefault(int(run.data.tags[names.TAG_TRIAL]), []).append(run)
    return found


CTRL_C = """\
base: [device=cpu, trainer.total_steps=40]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
pruner: {name: median, n_startup_trials: 100}
n_trials: 2
"""


@pytest.mark.timeout(600)
def test_ctrl_c_stops_the_jobs_and_resume_finishes_the_study(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "cc.yaml", "cc", CTRL_C)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = ["--runner", "sleep-local", "--poll", "0.1", "--storage", url]
    proc = subprocess.Popen(
        [*CLI, "launch", str(spec), *args],
        env=cli_env(tmp_path / "home", step_s=1.0),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A test runner started in the background inherits SIGINT ignored, and Python then
        # installs no Ctrl-C handler: give the controller a terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen: list[str] = []
    try:
        read_until(proc, "trial 0 step 0:", seen)  # the job is running and logging
        study = optuna.load_study(study_name="cc", storage=url)
        run_id = study.trials[0].user_attrs[names.ATTR_RUN_ID]
        client = MlflowClient(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
        job_pid = int(client.get_run(run_id).data.tags["sleepjob.pid"])
        assert psutil.pid_exists(job_pid)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    seen += rest.splitlines()
    assert proc.returncode == 130, "\n".join(seen)
    assert "trial 0 killed" in seen
    assert any("rmsweep study resume cc" in line for line in seen)
    assert not psutil.pid_exists(job_pid)  # the job was stopped, not orphaned
    study = optuna.load_study(study_name="cc", storage=url)
    killed, queued = study.trials
    assert killed.state == TrialState.FAIL and killed.user_attrs[names.ATTR_STATE] == "killed"
    assert queued.state == TrialState.WAITING and queued.user_attrs[names.ATTR_RETRY_OF] == 0
    run = client.get_run(run_id)
    assert run.info.status == "KILLED", "\n".join(seen)
    assert run.data.tags[names.TAG_STATE] == "killed"
    parent_id = study.user_attrs[names.STUDY_PARENT_RUN]
    assert client.get_run(parent_id).info.status == "KILLED"

    resumed = subprocess.run(
        [*CLI, "resume", "cc", *args],
        env=cli_env(tmp_path / "home", step_s=0.01),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    study = optuna.load_study(study_name="cc", storage=url)
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert study.trials[1].params == killed.params  # the killed config ran again first
    runs = runs_by_trial(client, parent_id)
    assert {n: len(r) for n, r in runs.items()} == {0: 1, 1: 1, 2: 1}
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.tags[names.TAG_STATE] == "complete"


WORKERS = """\
base: [device=cpu, trainer.total_steps=4]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exponential, exact]
  reward.k: {type: float, low: 2.0, high: 8.0, when: {reward: exponential}}
  template: [pointwise_plain, pointwise_fewshot]
  trainer.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
n_trials: 8
parallel: 2
seed: 0
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(Optuna storage URL, MLflow tracking URI): sqlite files, or two fresh databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        for optuna_db, mlflow_db in postgres_databases(2):
            # SQLAlchemy 2.1 reads postgresql:// as psycopg 3: MLflow needs the driver named
            # (the Optuna storage accepts the bare scheme: rmsweep picks psycopg2 itself).
            yield optuna_db, mlflow_db.replace("postgresql://", "postgresql+psycopg2://")


@pytest.mark.timeout(600)
def test_two_workers_share_one_study(tmp_path: Path, stores: tuple[str, str]) -> None:
    storage, tracking = stores
    spec = write_spec(tmp_path / "w.yaml", "w", WORKERS)
    command = [
        *CLI, "launch", str(spec), f"tracking.uri={tracking}",
        "--worker", "--runner", "sleep-local", "--poll", "0.1", "--storage", storage,
    ]  # fmt: skip
    env = cli_env(tmp_path / "home", step_s=0.5)
    workers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=540)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
    started = [
        {
            int(line.split()[1])
            for line in out.splitlines()
            if line.startswith("trial ") and " started:" in line
        }
        for out in outputs
    ]
    assert all(started), outputs  # both workers ran trials
    assert not started[0] & started[1]  # none twice
    assert started[0] | started[1] == set(range(8))  # none lost
    study = optuna.load_study(study_name="w", storage=open_storage(storage))
    assert [t.number for t in study.trials] == list(range(8))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("w")
    parents = client.search_runs([experiment.experiment_id], "tags.`rmsweep.kind` = 'study'")
    assert len(parents) == 1 and parents[0].info.run_id == study.user_attrs[names.STUDY_PARENT_RUN]
    runs = runs_by_trial(client, parents[0].info.run_id)
    assert sorted(runs) == list(range(8))
    for trial in study.trials:
        (run,) = runs[trial.number]  # exactly one child run per trial
        assert run.info.run_id == trial.user_attrs[names.ATTR_RUN_ID]
        assert run.data.metrics["objective/val/acc"] == pytest.approx(trial.value)


REPORT = """\
base: [device=cpu, trainer.total_steps=3]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exponential, exact]
  template: [pointwise_plain, pointwise_fewshot]
sampler: {name: grid}
n_trials: 3
seed: 0
"""


@pytest.mark.timeout(600)
def test_status_compare_and_best_report_the_study(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "r.yaml", "r", REPORT)
    env = cli_env(tmp_path / "home", step_s=0.01)
    storage = ["--storage", f"sqlite:///{tmp_path / 'optuna.db'}"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    launched = cli("launch", str(spec), "--runner", "sleep-local", "--poll", "0.1", *storage)
    assert "study r: 3 complete" in launched.stdout
    study = optuna.load_study(study_name="r", storage=storage[1])
    assert study.metric_names == ["val/acc"]  # optuna-dashboard names the objective
    best = study.best_trial
    status = cli("status", "r", "--once", *storage).stdout
    assert "3 complete" in status and f"best so far: trial {best.number}" in status
    compare = cli("compare", "r", "--top", "2", "--no-plots", *storage).stdout
    assert "top 2 of 3 trials" in compare
    ranked = [t.user_attrs[names.ATTR_RUN_ID] for t in sorted(study.trials, key=lambda t: -t.value)]
    assert ranked[0] == best.user_attrs[names.ATTR_RUN_ID]
    assert compare.index(ranked[0]) < compare.index(ranked[1])  # best first, then the runner-up
    assert ranked[2] not in compare  # only the top 2
    by = json.loads(cli("compare", "r", "--by", "reward", "--json", *storage).stdout)
    levels = {level["level"]: level for level in by["levels"]}
    assert set(levels) == {t.params["reward"] for t in study.trials}
    assert by["judged_on"] == "val/acc"  # the sleep jobs judge no benchmark
    best_level = levels[best.params["reward"]]
    assert best_level["verdict"] == "best" and best_level["objective"]["mean"] == best.value
    others = [level for level in levels.values() if level is not best_level]
    # One trial per level: nothing tells how much one run varies, so no verdict.
    assert all(level["verdict"] == "no detectable difference" for level in others)
    table = cli("compare", "r", "--by", "template", *storage).stdout
    assert "by template" in table and "verdict" in table
    unknown = subprocess.run(
        [*CLI, "compare", "r", "--by", "lr", *storage], env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].endswith("(swept: reward, template)")
    shown = cli("best", "r", *storage).stdout.splitlines()
    assert shown[0] == f"trial {best.number}: val/acc={best.value:.6g}"
    assert shown[1] == f"  run: {best.user_attrs[names.ATTR_RUN_ID]}"
    assert {line.strip() for line in shown[2:]} == {f"{k}={v}" for k, v in best.params.items()}
    missing = subprocess.run(
        [*CLI, "status", "nope", *storage], env=env, capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0
    assert "no study 'nope'" in missing.stderr and "studies there: r" in missing.stderr
