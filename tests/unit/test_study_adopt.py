"""Adopt, don't abandon: `study resume` takes over the trials of a controller that died.

Real Optuna and MLflow (sqlite files), sleep jobs as threads. The dead controller is staged:
RUNNING trials whose controller token names a process that does not exist, one with a job
still running (adopted and told from that job), one whose job is gone (failed with the
reason, its run FAILED, retried), one that died before its job started (queued again).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names, tracking
from rmsweep.study import launch_study, parse_spec, resume_study
from rmsweep.study._adopt import NEVER_STARTED
from rmsweep.study._doctor import compare
from rmsweep.study._owner import is_dead, my_token
from rmsweep.testing import SleepJobRunner, SleepPlan, ThreadLauncher

SPEC = """\
name: adopt
base: [device=cpu]
objective: {metric: val/acc}
space:
  trainer.lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
sampler: {name: random}
n_trials: 1
parallel: 1
retries: 1
"""
DEAD = f"{socket.gethostname()}:999999999:0.00"  # a controller of this host that is gone


def test_a_token_tells_a_dead_controller_from_a_live_one() -> None:
    assert not is_dead(my_token())
    assert is_dead(DEAD)
    assert not is_dead("another-host:1:0.00")  # elsewhere: only a stale heartbeat can tell
    assert not is_dead(None)


def orphan(study: optuna.Study, **attrs: object) -> optuna.Trial:
    trial = study.ask()
    lr = trial.suggest_float("trainer.lr", 1e-5, 1e-2, log=True)
    trial.set_user_attr(names.ATTR_CONTROLLER, DEAD)
    trial.set_user_attr(names.ATTR_OVERRIDES, [f"trainer.lr={lr}"])
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    return trial


def test_resume_adopts_a_running_job_and_ends_lost_ones_with_the_reason(workdir: Path) -> None:
    storage = f"sqlite:///{workdir / 'optuna.db'}"
    launcher, gate = ThreadLauncher(), threading.Event()

    def plan(params: dict[str, str]) -> SleepPlan:
        curves = {"val/acc": [0.1, 0.3], "train/response_length": [9.0, 8.0]}
        return SleepPlan(curves, 0.01, gate=gate if params.get("adopt") else None)

    factory = SleepJobRunner.factory(launcher=launcher, plan=plan)
    first = launch_study(
        parse_spec(SPEC, source="t"),
        storage=storage,
        runner=factory,
        poll_s=0.02,
        echo=lambda _: None,
    )
    study = optuna.load_study(study_name="adopt", storage=storage)
    client = MlflowClient(first.tracking_uri)
    experiment = study.user_attrs[names.STUDY_EXPERIMENT_ID]
    runner = SleepJobRunner(
        tracking_uri=first.tracking_uri, experiment="adopt", launcher=launcher, plan=plan
    )

    # 1: its job runs (held at the gate) when its controller dies.
    running = orphan(study)
    tags = {names.TAG_STUDY: "adopt", names.TAG_KIND: "trial", names.TAG_TRIAL: "1"}
    overrides = [*running.user_attrs[names.ATTR_OVERRIDES], "+adopt=1"]
    running.set_user_attr(names.ATTR_OVERRIDES, overrides)
    handle = runner.start(overrides, tags=tags, parent_run_id=first.parent_run_id)
    running.set_user_attr(names.ATTR_RUN_ID, handle.run_id)
    running.set_user_attr(names.ATTR_JOB_ID, handle.job_id)
    # 2: its job is gone. 3: it died before its job started.
    lost_run = tracking.create_run(
        client,
        experiment,
        run_name="lost",
        params={},
        tags={**tags, names.TAG_TRIAL: "2"},
        parent_run_id=first.parent_run_id,
    )
    orphan(study, **{names.ATTR_RUN_ID: lost_run, names.ATTR_JOB_ID: "thread-gone"})
    orphan(study)

    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("trial 1 adopted"):
            gate.set()  # adopted while its job still ran: let it finish now

    outcome = resume_study(
        "adopt", storage=storage, n_trials=4, runner=factory, poll_s=0.02, echo=echo
    )
    assert any(line.startswith("trial 1 adopted: job") and "RUNNING" in line for line in lines)
    study = optuna.load_study(study_name="adopt", storage=storage)
    by_number = {t.number: t for t in study.trials}
    adopted, lost, unstarted = by_number[1], by_number[2], by_number[3]
    assert outcome.outcomes[1] == "complete" and adopted.state == TrialState.COMPLETE
    assert adopted.user_attrs[names.ATTR_ADOPTED_FROM] == DEAD
    assert adopted.user_attrs[names.ATTR_CONTROLLER] == my_token()
    adopted_run = client.get_run(handle.run_id)
    assert (
        adopted_run.info.status == "FINISHED" and adopted_run.data.tags[names.TAG_ADOPTED] == DEAD
    )
    assert adopted_run.data.metrics["objective/val/acc"] == adopted.value == 0.3

    assert lost.state == TrialState.FAIL and lost.user_attrs[names.ATTR_STATE] == "failed"
    reason = lost.user_attrs[names.ATTR_REASON]
    assert reason.startswith("lost when its controller died: unknown job 'thread-gone'")
    gone = client.get_run(lost_run)
    assert gone.info.status == "FAILED" and gone.data.tags[names.TAG_REASON] == reason
    assert unstarted.state == TrialState.FAIL
    assert unstarted.user_attrs[names.ATTR_REASON] == NEVER_STARTED

    retried = {t.user_attrs.get(names.ATTR_RETRY_OF): t for t in study.trials}
    assert retried[2].state == retried[3].state == TrialState.COMPLETE
    assert retried[2].user_attrs[names.ATTR_ATTEMPT] == 2  # a lost job uses a retry
    assert retried[3].user_attrs[names.ATTR_ATTEMPT] == 1  # a job that never started does not
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4 and len(launcher._jobs) == 4  # the adopted job ran once
    assert compare(study, client, experiment_id=experiment) == []


def test_a_live_worker_adopts_a_trial_whose_heartbeat_went_stale_on_another_host(
    workdir: Path,
) -> None:
    import datetime

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    from rmsweep.study._storage import open_storage

    storage = f"sqlite:///{workdir / 'optuna.db'}"
    launcher = ThreadLauncher()

    def plan(params: dict[str, str]) -> SleepPlan:
        return SleepPlan({"val/acc": [0.2, 0.6], "train/response_length": [9.0, 8.0]}, 0.01)

    factory = SleepJobRunner.factory(launcher=launcher, plan=plan)
    first = launch_study(
        parse_spec(SPEC, source="t"),
        storage=storage,
        runner=factory,
        poll_s=0.02,
        echo=lambda _: None,
    )
    rdb = open_storage(storage)
    study = optuna.load_study(study_name="adopt", storage=rdb)
    runner = SleepJobRunner(
        tracking_uri=first.tracking_uri, experiment="adopt", launcher=launcher, plan=plan
    )
    elsewhere = "another-host:4242:1.00"  # alive for all this host can tell
    trial = orphan(study, **{names.ATTR_CONTROLLER: elsewhere})
    tags = {names.TAG_STUDY: "adopt", names.TAG_KIND: "trial", names.TAG_TRIAL: "1"}
    handle = runner.start(
        trial.user_attrs[names.ATTR_OVERRIDES], tags=tags, parent_run_id=first.parent_run_id
    )
    trial.set_user_attr(names.ATTR_RUN_ID, handle.run_id)
    trial.set_user_attr(names.ATTR_JOB_ID, handle.job_id)
    rdb.record_heartbeat(trial._trial_id)
    with _create_scoped_session(rdb.scoped_session, True) as session:  # silent for an hour
        beat = models.TrialHeartbeatModel.where_trial_id(trial._trial_id, session, True)
        assert beat is not None
        beat.heartbeat = beat.heartbeat - datetime.timedelta(hours=1)

    lines: list[str] = []
    outcome = launch_study(
        parse_spec(SPEC, source="t"),
        storage=storage,
        runner=factory,
        worker=True,
        poll_s=0.02,
        echo=lines.append,
    )
    assert outcome.outcomes == {1: "complete"}, lines
    adopted = optuna.load_study(study_name="adopt", storage=storage).trials[1]
    assert adopted.state == TrialState.COMPLETE and adopted.value == 0.6
    assert adopted.user_attrs[names.ATTR_ADOPTED_FROM] == elsewhere
    assert len(launcher._jobs) == 2  # trial 0's and the adopted one: nothing re-run


def test_a_job_on_a_dead_local_ray_head_is_lost_with_that_reason(workdir: Path) -> None:
    from rmsweep.errors import LaunchError
    from rmsweep.study import VerlTrialRunner

    runner = VerlTrialRunner(["device=cpu"])  # cluster=local: a head owned by its controller
    with pytest.raises(LaunchError, match="gone: the local Ray head died with the controller"):
        runner.attach([], run_id="r1", job_id="raysubmit_1")
    with pytest.raises(LaunchError, match="died before recording its job"):
        runner.attach([], run_id="r1", job_id=None)
