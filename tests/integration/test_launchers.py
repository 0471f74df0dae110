"""One behavioural suite for every launcher: submit, status, logs, stop, outcome.

Like optuna's storage tests, the same tests run against each launcher: ``RayLauncher`` (a real
local Ray head), and the test kit's ``ProcessLauncher`` and ``ThreadLauncher``. The job is the
kit's sleep job, the one kind every launcher runs; tests/integration/test_launch.py holds
what only Ray does (auth, heads, cluster addresses).
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from rmsweep import names, tracking
from rmsweep.errors import LaunchError
from rmsweep.launch import RayLauncher
from rmsweep.testing import ProcessLauncher, ThreadLauncher
from rmsweep.testing._sleep_job import MODULE

LAUNCHERS = ("ray", "process", "thread")


@pytest.fixture(scope="module")
def ray_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayLauncher]:
    with RayLauncher(None, workdir=tmp_path_factory.mktemp("ray")) as launcher:
        yield launcher


@pytest.fixture(params=LAUNCHERS)
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "ray":
        yield request.getfixturevalue("ray_launcher")
        return
    made = ProcessLauncher(tmp_path / "jobs") if request.param == "process" else ThreadLauncher()
    with made:
        yield made


def sleep_job(*args: str, steps: int = 2, step_s: float = 0.05) -> str:
    metric = "--metric", "val/acc=" + ",".join(str(i / 10) for i in range(steps))
    command = [sys.executable, "-m", MODULE, "--step-s", str(step_s), *metric, *args]
    return shlex.join(command)


def until(launcher: Any, job_id: str, wanted: Collection[str], timeout_s: float = 120.0) -> str:
    """Poll the job's status until it is one of ``wanted`` (no event crosses a launcher)."""
    deadline = time.monotonic() + timeout_s
    while (status := launcher.status(job_id)) not in wanted:
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {status} after {timeout_s}s, not {sorted(wanted)}")
        time.sleep(0.05)
    return status


def test_a_job_that_exits_0_succeeds_and_its_output_is_in_the_logs(launcher: Any) -> None:
    job = launcher.submit(sleep_job("--no-mlflow"), env={})
    assert launcher.status(job) in {names.JOB_PENDING, names.JOB_RUNNING, names.JOB_SUCCEEDED}
    assert until(launcher, job, names.JOB_TERMINAL) == names.JOB_SUCCEEDED
    assert "started_at=" in launcher.logs(job)


def test_a_job_that_exits_non_zero_fails_and_keeps_its_logs(launcher: Any) -> None:
    job = launcher.submit(sleep_job("--no-mlflow", "--exit-code", "3"), env={})
    assert until(launcher, job, names.JOB_TERMINAL) == names.JOB_FAILED
    assert "started_at=" in launcher.logs(job)


def test_a_stopped_job_is_stopped_and_stop_is_idempotent(launcher: Any) -> None:
    job = launcher.submit(sleep_job("--no-mlflow", steps=600, step_s=0.5), env={})
    until(launcher, job, {names.JOB_RUNNING})
    launcher.stop(job)
    assert launcher.status(job) == names.JOB_STOPPED  # not FAILED: it was stopped
    launcher.stop(job)
    assert launcher.status(job) == names.JOB_STOPPED


def test_the_job_logs_into_the_run_its_env_names(launcher: Any, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.tracking_client(uri)
    experiment = tracking.ensure_experiment(client, "launchers", tmp_path / "artifacts")
    run_id = tracking.create_run(client, experiment, run_name="job", tags={}, params={})
    env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id}
    job = launcher.submit(sleep_job(steps=3), env=env, submission_id=f"job-{run_id[:12]}")
    assert job == f"job-{run_id[:12]}"
    assert until(launcher, job, names.JOB_TERMINAL) == names.JOB_SUCCEEDED, launcher.logs(job)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run_id, "val/acc")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.0), (1, 0.1), (2, 0.2)]


def test_unknown_and_duplicate_jobs_are_launch_errors(launcher: Any, tmp_path: Path) -> None:
    name = f"dup-{tmp_path.name}"[-40:]
    job = launcher.submit(sleep_job("--no-mlflow"), env={}, submission_id=name)
    with pytest.raises(LaunchError, match=name):
        launcher.submit(sleep_job("--no-mlflow"), env={}, submission_id=name)
    with pytest.raises(LaunchError, match="no-such-job"):
        launcher.status("no-such-job")
    with pytest.raises(LaunchError, match="no-such-job"):
        launcher.logs("no-such-job")
    until(launcher, job, names.JOB_TERMINAL)
