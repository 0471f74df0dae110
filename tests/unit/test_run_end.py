"""A run is ended once, by its owner: the ``RunHandle`` outside a study, the controller in one.

In a study the controller writes Optuna first (attrs, ``tell``), then ends the MLflow run; a
controller that dies between the two leaves a told trial whose run is RUNNING, and ``study
resume`` ends it as Optuna recorded. Real sqlite stores; the production ``RunHandle`` on a
launcher whose jobs have already ended.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState

from rmsweep import names, tracking
from rmsweep.run import RunHandle, missing_objective
from rmsweep.study import _tell as study_tell
from rmsweep.study import launch_study, parse_spec, resume_study
from rmsweep.study._context import StudyContext


class ControllerDied(BaseException):
    """The process ended between ``tell`` and the MLflow run's end."""


class InstantLauncher:
    """Every job has already ended with ``status``."""

    def __init__(self, status: str) -> None:
        self.status_of_jobs = status

    def status(self, job_id: str) -> str:
        return self.status_of_jobs

    def logs(self, job_id: str) -> str:
        return "the job's log\n"

    def details(self, job_id: str) -> tuple[str | None, str]:
        return None, ""  # no node, no word from Ray

    def stop(self, job_id: str) -> None:
        pass


class InstantRunner:
    """A real MLflow child run per trial (``tracking.create_run``), ``val/acc`` logged as 0.5,
    and a ``RunHandle`` that, as in every study, leaves the run's end to the controller."""

    def __init__(self, ctx: StudyContext, status: str) -> None:
        self.ctx = ctx
        self.client = ctx.mlflow
        self.launcher = InstantLauncher(status)
        self.cfg = OmegaConf.create({"data": {"name": ctx.data_source}})

    def start(self, overrides, *, tags, parent_run_id):  # noqa: ANN001, ANN201
        experiment_id = self.ctx.study.user_attrs[names.STUDY_EXPERIMENT_ID]
        run_id = tracking.create_run(
            self.client,
            experiment_id,
            run_name=f"trial-{tags[names.TAG_TRIAL]}",
            tags=dict(tags),
            params={},
            parent_run_id=parent_run_id,
        )
        self.client.log_metric(run_id, names.metric_key("val/acc", self.ctx.data_source), 0.5)
        return RunHandle(
            cfg=self.cfg,
            run_id=run_id,
            job_id=f"job-{run_id[:8]}",
            launcher=self.launcher,  # type: ignore[arg-type]
            client=self.client,
            ends_run=False,
        )

    def free_slots(self) -> None:
        return None

    def close(self) -> None:
        pass


SPEC = """\
name: crash
base: [device=cpu]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear]
n_trials: 1
retries: 0
"""


@pytest.mark.parametrize(
    ("job_status", "state", "mlflow_status"),
    [(names.JOB_SUCCEEDED, "complete", "FINISHED"), (names.JOB_FAILED, "failed", "FAILED")],
)
def test_resume_ends_a_run_its_controller_left_running_after_telling_optuna(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, job_status: str, state: str, mlflow_status: str
) -> None:
    url = f"sqlite:///{workdir / 'optuna.db'}"
    factory = lambda ctx, cfg, base: InstantRunner(ctx, job_status)  # noqa: E731

    def die(*args: object, **kwargs: object) -> None:  # the MLflow half of the tell
        raise ControllerDied

    with monkeypatch.context() as patch:
        patch.setattr(study_tell, "record_trial_end", die)
        with pytest.raises(ControllerDied):
            launch_study(parse_spec(SPEC, source="crash.yaml"), storage=url, runner=factory)

    study = optuna.load_study(study_name="crash", storage=url)
    (trial,) = study.trials
    expected = TrialState.COMPLETE if state == "complete" else TrialState.FAIL
    assert trial.state == expected and trial.user_attrs[names.ATTR_STATE] == state
    client = MlflowClient(study.user_attrs[names.STUDY_TRACKING_URI])
    run_id = trial.user_attrs[names.ATTR_RUN_ID]
    assert client.get_run(run_id).info.status == "RUNNING"  # the crash, exactly

    lines: list[str] = []
    resume_study("crash", storage=url, runner=factory, echo=lines.append)

    run = client.get_run(run_id)
    assert run.info.status == mlflow_status
    assert run.data.tags[names.TAG_STATE] == state
    assert run.data.tags.get(names.TAG_REASON) == trial.user_attrs.get(names.ATTR_REASON)
    if state == "complete":
        assert run.data.metrics[names.OBJECTIVE_PREFIX + "val/acc"] == trial.value == 0.5
    else:
        assert run.data.tags[names.TAG_REASON].startswith("its job ended FAILED")
    assert f"trial 0: its run shows RUNNING/running, Optuna {state}; run ended {state}" in lines
    assert len(optuna.load_study(study_name="crash", storage=url).trials) == 1  # budget spent


def _handle(workdir: Path, *, ends_run: bool, log_acc: bool) -> tuple[RunHandle, MlflowClient]:
    client = tracking.tracking_client(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment_id = tracking.ensure_experiment(client, "runs", workdir / "artifacts")
    run_id = tracking.create_run(client, experiment_id, run_name="r", tags={}, params={})
    if log_acc:
        client.log_metric(run_id, names.metric_key("val/acc", "synthetic"), 0.5)
    handle = RunHandle(
        cfg=OmegaConf.create({"data": {"name": "synthetic"}}),
        run_id=run_id,
        job_id="job-1",
        launcher=InstantLauncher(names.JOB_SUCCEEDED),  # type: ignore[arg-type]
        client=client,
        ends_run=ends_run,
    )
    return handle, client


def test_outside_a_study_the_handle_ends_a_run_that_logged_no_objective_as_failed(
    workdir: Path,
) -> None:
    handle, client = _handle(workdir, ends_run=True, log_acc=False)
    result = handle.finish()
    run = client.get_run(handle.run_id)
    assert result.state == "failed" and run.info.status == "FAILED"
    assert run.data.tags[names.TAG_REASON] == result.reason
    assert result.reason == missing_objective((), ["val/acc"], "synthetic")
    assert result.reason.startswith("the job succeeded but logged no val/acc (val-core/")


def test_in_a_study_the_handle_leaves_the_run_open_for_the_controller(workdir: Path) -> None:
    handle, client = _handle(workdir, ends_run=False, log_acc=True)
    result = handle.finish()
    run = client.get_run(handle.run_id)
    assert result.state == "complete" and run.info.status == "RUNNING"
    assert run.data.tags[names.TAG_JOB_STATUS] == names.JOB_SUCCEEDED  # its job's record is in
    tracking.finish_run(client, handle.run_id, result.state)  # what the controller does
