"""The controller on a real local Ray head: trials are Ray jobs (sleep jobs, not training).

``SleepJobRunner`` stands in for training here; tests/integration/test_study_verl.py runs
real veRL trials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import psutil
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.study import launch_study, parse_spec
from rmsweep.testing import SleepJobRunner, SleepPlan

CLI = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study"]


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from rmsweep.launch import RayLauncher

    with RayLauncher(None, workdir=tmp_path_factory.mktemp("ray")) as ray:
        yield ray


SPEC = """\
name: ray
base: [device=cpu]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [exact, linear, exponential]
pruner: {name: median, n_startup_trials: 1, n_warmup_steps: 0}
enqueue: [{reward: exact}, {reward: linear}, {reward: exponential}]
n_trials: 3
parallel: 2
"""


def test_ray_jobs_run_prune_and_record(workdir: Path, launcher: object) -> None:
    def plan(params: dict[str, str]) -> SleepPlan:
        if params["reward"] == "linear":  # a loser, slow enough to be caught running
            return SleepPlan({"val/acc": [0.0] * 60}, step_s=1.0)
        # exact finishes first and sets the bar at every step the loser will reach;
        # exponential (started when exact ends) stays above it.
        top = 0.5 if params["reward"] == "exact" else 0.9
        return SleepPlan({"val/acc": [top * (i + 1) / 20 for i in range(20)]}, step_s=0.1)

    outcome = launch_study(
        parse_spec(SPEC, source="ray.yaml"),
        storage=f"sqlite:///{workdir / 'optuna.db'}",
        runner=SleepJobRunner.factory(launcher=launcher, plan=plan),
        poll_s=0.2,
        echo=lambda line: None,
    )
    study = optuna.load_study(study_name="ray", storage=outcome.storage_url)
    client = MlflowClient(outcome.tracking_uri)
    states = {t.params["reward"]: t.state for t in study.trials}
    assert states == {
        "exact": TrialState.COMPLETE,
        "linear": TrialState.PRUNED,
        "exponential": TrialState.COMPLETE,
    }
    for trial in study.trials:
        job_id = trial.user_attrs[names.ATTR_JOB_ID]
        run = client.get_run(trial.user_attrs[names.ATTR_RUN_ID])
        assert run.data.tags[names.TAG_JOB_ID] == job_id
        assert run.data.tags[names.TAG_PARENT] == outcome.parent_run_id
        if trial.state == TrialState.PRUNED:
            assert launcher.status(job_id) == "STOPPED"  # the Ray job was stopped
            steps = client.get_metric_history(run.info.run_id, "val-core/synthetic/acc/mean_at_1")
            assert 1 <= len(steps) < 60
        else:
            assert launcher.status(job_id) == "SUCCEEDED"
            assert run.data.metrics["objective/val/acc"] == pytest.approx(trial.value)


CTRL_C = """\
# Ctrl-C test
name: cc
base: [device=cpu, trainer.total_steps=60]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
pruner: {name: median, n_startup_trials: 100}
n_trials: 2
parallel: 2
"""


def test_ctrl_c_stops_ray_jobs_and_the_local_head(tmp_path: Path) -> None:
    spec = tmp_path / "cc.yaml"
    spec.write_text(CTRL_C)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home), RMSWEEP_SLEEP_STEP_S="1.0", PYTHONUNBUFFERED="1")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    proc = subprocess.Popen(
        [*CLI, "launch", str(spec), "--runner", "sleep", "--poll", "0.2", "--storage", url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        # A background test runner passes SIGINT on ignored; a terminal would not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen: list[str] = []
    assert proc.stdout is not None
    stepping: set[str] = set()
    for line in proc.stdout:  # both trials' jobs running and logging
        seen.append(line.rstrip("\n"))
        if line.startswith("trial ") and " step " in line:
            stepping.add(line.split()[1])
            if len(stepping) == 2:
                break
    else:
        pytest.fail("\n".join(seen))
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    study = optuna.load_study(study_name="cc", storage=url)
    runs = [t.user_attrs[names.ATTR_RUN_ID] for t in study.trials]
    pids = [int(client.get_run(r).data.tags["sleepjob.pid"]) for r in runs]
    assert all(psutil.pid_exists(p) for p in pids)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=180)
    seen += rest.splitlines()
    assert proc.returncode == 130, "\n".join(seen)
    assert not any(psutil.pid_exists(p) for p in pids)  # the Ray jobs were stopped
    for run_id in runs:
        run = client.get_run(run_id)
        assert run.info.status == "KILLED" and run.data.tags[names.TAG_STATE] == "killed"
    states = [t.state for t in optuna.load_study(study_name="cc", storage=url).trials]
    assert states == [TrialState.FAIL, TrialState.FAIL, TrialState.WAITING, TrialState.WAITING]
    # The local Ray head (started in home/, by the controller) is gone with its processes.
    left = []
    for p in psutil.process_iter(["cwd"]):
        try:
            if p.info["cwd"] and Path(p.info["cwd"]).is_relative_to(tmp_path):
                left.append(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    assert not left


def test_parallel_auto_reads_free_gpus_from_the_cluster(workdir: Path, launcher: object) -> None:
    from rmsweep.study._runner import VerlTrialRunner, cluster_resources

    free = cluster_resources(launcher)
    assert free["CPU"] > 0 and free.get("GPU", 0.0) == 0.0  # this machine has no GPU
    # No free GPU: no slot (the one trial the study runs fails, saying it cannot be placed);
    # cpu: always one slot (each CPU trial brings its own Ray).
    gpu = VerlTrialRunner(["device=gpu", "device.gpus_per_node=2"], launcher=launcher)
    assert gpu.free_slots() == 0
    assert VerlTrialRunner(["device=cpu"], launcher=launcher).free_slots() == 1
