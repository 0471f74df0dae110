"""A command stopped with SIGTERM (``timeout``, Slurm, Kubernetes) or SIGHUP (a closed terminal)
leaves no run RUNNING and no job running: the same path as Ctrl-C.

One real ``rmsweep run train`` (the small CPU job) is stopped once its job runs; its recorded
(killed) run is then the record ``rmsweep run reproduce`` re-runs and stops the same way. A
study runs sleep jobs on local processes (``--runner sleep-local``).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna
import psutil
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names

CLI = [sys.executable, "-c", "from rmsweep.cli import main; main()"]
T = TypeVar("T")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.pop("RMSWEEP_STORAGE", None)
    env.update(RMSWEEP_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A runner started in the background may pass SIGINT/SIGHUP ignored: a terminal's
        # defaults instead.
        preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (2, 1)],
    )


def poll(find: Callable[[], T | None], timeout_s: float, what: str, proc: subprocess.Popen) -> T:
    """Poll ``find`` until it returns something; fail (with the command's output) if the
    command ends or the time is up first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"the command ended ({proc.returncode}) before {what}: {out[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no {what} after {timeout_s:.0f}s")


def run_with_job(db: Path, tag: str | None = None) -> str | None:
    """The id of a run that has a job id (its job was submitted), read-only from sqlite."""
    if not db.exists():
        return None
    query = "SELECT r.run_uuid FROM runs r JOIN tags j ON j.run_uuid = r.run_uuid AND j.key = ?"
    params = [names.TAG_JOB_ID]
    if tag:
        query += " JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = ?"
        params.append(tag)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute(query, params).fetchone()
    except sqlite3.OperationalError:  # the schema is still being created
        return None
    return row[0] if row else None


def job_processes(run_id: str) -> list[psutil.Process]:
    """The processes of the run's job: the driver and everything it started (they carry the
    run id in their environment, as Ray passes the job's env_vars down)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("MLFLOW_RUN_ID") == run_id:
                found.append(proc)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def stop_with(proc: subprocess.Popen[str], sig: signal.Signals) -> str:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out


def assert_killed(client: MlflowClient, run_id: str, jobs: list[psutil.Process], sig: str) -> None:
    _, alive = psutil.wait_procs(jobs, timeout=30)
    assert alive == [] and job_processes(run_id) == []  # no job left running
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags[names.TAG_STATE] == "killed"
    assert run.data.tags[names.TAG_REASON] == f"stopped by {sig}"
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments, "attributes.status = 'RUNNING'") == []


@pytest.fixture(scope="module")
def stopped_train(new_home, small_run: list[str]):
    """``rmsweep run train`` stopped with SIGTERM once its job runs.

    Its 200 steps are never run: they make it, and its reproduce, last far longer than the
    signal takes to arrive (a 3-step reproduce once finished first: exit 0, not 130)."""
    home = new_home("sigterm")
    proc = start(["run", "train", *small_run, "trainer.total_steps=200"], cli_env(home))
    db = home / "mlflow.db"
    run_id = poll(lambda: run_with_job(db), 900, "a run with a submitted job", proc)
    jobs = poll(lambda: job_processes(run_id), 300, "the job's processes", proc)
    out = stop_with(proc, signal.SIGTERM)
    return home, run_id, jobs, proc.returncode, out


@pytest.mark.timeout(1500)
def test_run_train_stopped_with_sigterm_ends_its_run_and_job(stopped_train) -> None:
    home, run_id, jobs, code, out = stopped_train
    assert code == 130, out[-3000:]
    assert f"run {run_id}: job " in out  # it showed progress while it ran
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert_killed(client, run_id, jobs, "SIGTERM")


@pytest.mark.timeout(1500)
def test_run_reproduce_stopped_with_sigterm_ends_its_run_and_job(stopped_train) -> None:
    home, original, _, _, _ = stopped_train
    proc = start(["run", "reproduce", original], cli_env(home))
    db = home / "mlflow.db"
    run_id = poll(lambda: run_with_job(db, names.TAG_REPRODUCES), 600, "the new run", proc)
    jobs = poll(lambda: job_processes(run_id), 300, "the job's processes", proc)
    out = stop_with(proc, signal.SIGTERM)
    assert proc.returncode == 130, out[-3000:]
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    assert client.get_run(run_id).data.tags[names.TAG_REPRODUCES] == original
    assert_killed(client, run_id, jobs, "SIGTERM")


STUDY = """\
name: st
base: [device=cpu, trainer.total_steps=200]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
pruner: {name: median, n_startup_trials: 100}
n_trials: 2
parallel: 1
"""


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_study_launch_stopped_by_a_signal_ends_its_runs_and_jobs(
    tmp_path: Path, sig: signal.Signals
) -> None:
    spec = tmp_path / "st.yaml"
    spec.write_text(STUDY)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    home = tmp_path / "home"
    args = ["study", "launch", str(spec), "--runner", "sleep-local", "--poll", "0.1"]
    proc = start([*args, "--storage", url], cli_env(home, RMSWEEP_SLEEP_STEP_S="1.0"))
    db = home / "mlflow.db"
    run_id = poll(lambda: run_with_job(db, names.TAG_TRIAL), 300, "a trial's run", proc)
    client = MlflowClient(f"sqlite:///{db}")
    job_pid = poll(
        lambda: client.get_run(run_id).data.tags.get("sleepjob.pid"), 120, "the job's pid", proc
    )
    job = psutil.Process(int(job_pid))
    out = stop_with(proc, sig)
    assert proc.returncode == 130, out[-3000:]
    _, alive = psutil.wait_procs([job], timeout=30)
    assert alive == []  # the job was stopped, not orphaned
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags[names.TAG_STATE] == "killed"
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments, "attributes.status = 'RUNNING'") == []
    [trial, *_] = optuna.load_study(study_name="st", storage=url).trials
    assert trial.state == TrialState.FAIL and trial.user_attrs[names.ATTR_STATE] == "killed"
