"""Crash-proof studies: SIGKILL the controller at a named point, then `study resume`.

The controller pauses at a named point (``rmsweep.testing._pause``: ``$RMSWEEP_PAUSE_AT``),
writes a file saying so, and the test kills it there: before the job starts, while it runs,
between the job's end and ``tell``. Jobs are sleep-job processes (``--runner sleep-local``)
that wait for a gate file, so the test decides when an adopted job may finish. After the
resume: every trial ended once, none lost, no job left running, the two records agree (the
doctor's comparison, and direct checks), and the adopted job was told without a second run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from conftest import postgres_databases
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.study._adopt import NEVER_STARTED
from rmsweep.study._doctor import compare
from rmsweep.study._storage import open_storage
from rmsweep.testing import ProcessLauncher
from rmsweep.testing._plan import GATE_FILE_ENV

CLI = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study"]
N_TRIALS = 3
SPEC = f"""\
name: crash
base: [device=cpu, trainer.total_steps=4]
objective: {{metric: val/acc, direction: maximize}}
space:
  trainer.lr: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
sampler: {{name: random}}
n_trials: {N_TRIALS}
parallel: 1
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
        return
    for urls in postgres_databases(1):  # a fresh database, dropped after the test
        yield urls[0]


def wait_for(path: Path, proc: subprocess.Popen[str], timeout_s: float = 120.0) -> str:
    """The pause file's text, once the controller wrote it (fails if it exited first)."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the controller exited ({proc.returncode}) before {path.name}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {path.name} after {timeout_s}s")
        time.sleep(0.05)
    return path.read_text()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("point", ["before-job", "job-running", "before-tell"])
def test_sigkill_then_resume_ends_every_trial_once(
    point: str, storage: str, tmp_path: Path
) -> None:
    home, pause, gate = tmp_path / "home", tmp_path / "pause", tmp_path / "gate"
    spec = tmp_path / "crash.yaml"
    spec.write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(
        RMSWEEP_HOME=str(home),
        RMSWEEP_SLEEP_STEP_S="0.02",
        PYTHONUNBUFFERED="1",
        RMSWEEP_STORAGE=storage,
        **{GATE_FILE_ENV: str(gate)},
    )
    if point != "job-running":
        gate.touch()  # only a job the controller dies under is held until it is adopted
    paused = {**env, names.ENV_PAUSE_AT: point, names.ENV_PAUSE_DIR: str(pause)}
    launch = subprocess.Popen(
        [*CLI, "launch", str(spec), "--runner", "sleep-local"],
        env=paused,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        killed_trial = int(wait_for(pause / point, launch))
    finally:
        launch.send_signal(signal.SIGKILL)
        launch.wait()
    jobs = ProcessLauncher(home / "sleepjobs")
    if point == "job-running":  # its job outlived its controller
        assert [jobs.status(j) for j in jobs.job_ids()] == [names.JOB_RUNNING]

    resume = subprocess.Popen(
        [*CLI, "resume", "crash", "--runner", "sleep-local"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    assert resume.stdout is not None
    for line in resume.stdout:
        seen.append(line.rstrip("\n"))
        if line.startswith(f"trial {killed_trial} adopted"):
            gate.touch()  # the adopted job may finish now
    assert resume.wait() == 0, "\n".join(seen[-30:])
    gate.touch()

    study = optuna.load_study(study_name="crash", storage=open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS, seen[-30:]
    killed = next(t for t in trials if t.number == killed_trial)
    client = MlflowClient(study.user_attrs[names.STUDY_TRACKING_URI])
    experiment = study.user_attrs[names.STUDY_EXPERIMENT_ID]
    assert compare(study, client, experiment_id=experiment) == []
    doctor = subprocess.run([*CLI, "doctor", "crash"], env=env, capture_output=True, text=True)
    assert doctor.returncode == 0 and "agree" in doctor.stdout, doctor.stdout + doctor.stderr

    # Every job ran once, for one trial's run, and none still runs.
    runs_of_jobs = [jobs._record(j)["run_id"] for j in jobs.job_ids()]
    assert sorted(runs_of_jobs) == sorted(t.user_attrs[names.ATTR_RUN_ID] for t in complete)
    assert all(jobs.status(j) != names.JOB_RUNNING for j in jobs.job_ids())
    if point == "before-job":
        assert killed.state == TrialState.FAIL
        assert killed.user_attrs[names.ATTR_REASON] == NEVER_STARTED
        assert killed.user_attrs[names.ATTR_STATE] == "failed"
        assert names.ATTR_RUN_ID not in killed.user_attrs
        return
    # The adopted trial was told from its one job: complete in both records.
    assert f"trial {killed_trial} adopted" in "\n".join(seen)
    assert killed.state == TrialState.COMPLETE and killed.user_attrs[names.ATTR_STATE] == "complete"
    run = client.get_run(killed.user_attrs[names.ATTR_RUN_ID])
    assert run.info.status == "FINISHED" and run.data.tags[names.TAG_STATE] == "complete"
    assert run.data.tags[names.TAG_ADOPTED] == killed.user_attrs[names.ATTR_ADOPTED_FROM]
    assert run.data.metrics["objective/val/acc"] == pytest.approx(killed.value)
