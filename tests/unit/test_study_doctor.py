"""`rmsweep study doctor`: the two records' comparison and repair, on real stores.

A study runs on sleep-job threads; then its records are made to disagree the ways a crash
leaves them (a stale trial failed by Optuna's heartbeat with its attr still ``running`` and
its run RUNNING; a told trial whose run ended FINISHED with ``rmsweep.state=running``; a run
no trial records), and the doctor reports each and repairs them.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from mlflow import MlflowClient
from optuna.trial import TrialState
from typer.testing import CliRunner

from rmsweep import names, tracking
from rmsweep.cli.study import app
from rmsweep.study import launch_study, parse_spec
from rmsweep.study._doctor import ORPHAN_REASON, compare
from rmsweep.study._tracking import STALE_REASON
from rmsweep.testing import SleepJobRunner, SleepPlan

SPEC = """\
name: doc
base: [device=cpu]
objective: {metric: val/acc}
space:
  trainer.lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
sampler: {name: random}
n_trials: 2
"""


def plan(params: dict[str, str]) -> SleepPlan:
    return SleepPlan({"val/acc": [0.2, 0.4], "train/response_length": [9.0, 8.0]}, 0.01)


def broken_study(workdir: Path) -> tuple[str, optuna.Study, MlflowClient]:
    storage = f"sqlite:///{workdir / 'optuna.db'}"
    outcome = launch_study(
        parse_spec(SPEC, source="t"),
        storage=storage,
        runner=SleepJobRunner.factory(launcher="thread", plan=plan),
        poll_s=0.02,
        echo=lambda _: None,
    )
    study = optuna.load_study(study_name="doc", storage=storage)
    client = MlflowClient(outcome.tracking_uri)
    experiment = study.user_attrs[names.STUDY_EXPERIMENT_ID]
    assert compare(study, client, experiment_id=experiment) == []
    # Trial 0 was told complete, but its run says FINISHED/running (the UI lie).
    client.set_tag(study.trials[0].user_attrs[names.ATTR_RUN_ID], names.TAG_STATE, "running")
    # A trial Optuna failed as stale: attr still running, no reason, its run still RUNNING.
    stale = study.ask()
    stale.suggest_float("trainer.lr", 1e-5, 1e-2, log=True)
    tags = {names.TAG_STUDY: "doc", names.TAG_KIND: "trial", names.TAG_TRIAL: str(stale.number)}
    run_id = tracking.create_run(
        client,
        experiment,
        run_name="stale",
        tags=tags,
        params={},
        parent_run_id=outcome.parent_run_id,
    )
    stale.set_user_attr(names.ATTR_RUN_ID, run_id)
    stale.set_user_attr(names.ATTR_STATE, "running")
    study.tell(stale, state=TrialState.FAIL)
    # A run no trial records (its controller died between creating it and recording it).
    orphan_tags = {**tags, names.TAG_TRIAL: "99"}
    tracking.create_run(client, experiment, run_name="orphan", tags=orphan_tags, params={})
    return storage, optuna.load_study(study_name="doc", storage=storage), client


def test_doctor_reports_each_disagreement_then_repairs_them(workdir: Path) -> None:
    storage, study, client = broken_study(workdir)
    found = compare(study, client, experiment_id=study.user_attrs[names.STUDY_EXPERIMENT_ID])
    problems = {(d.trial, d.problem) for d in found}
    assert problems == {
        (0, "its run shows FINISHED/running, Optuna complete"),
        (2, "its attr says running, Optuna failed"),
        (2, "failed without a reason"),
        (2, "its run shows RUNNING/running, Optuna failed"),
        (None, ORPHAN_REASON),
    }

    cli = CliRunner()
    report = cli.invoke(app, ["doctor", "doc", "--storage", storage])
    assert report.exit_code == 1, report.output
    assert "5 disagreement(s) found" in report.output and "--fix" in report.output
    assert compare(study, client) != []  # reporting changed nothing

    fixed = cli.invoke(app, ["doctor", "doc", "--storage", storage, "--fix"])
    assert fixed.exit_code == 0 and "5 disagreement(s) repaired" in fixed.output, fixed.output
    study = optuna.load_study(study_name="doc", storage=storage)
    assert compare(study, client, experiment_id=study.user_attrs[names.STUDY_EXPERIMENT_ID]) == []
    stale = study.trials[2]
    assert stale.user_attrs[names.ATTR_STATE] == "failed"
    assert stale.user_attrs[names.ATTR_REASON] == STALE_REASON
    run = client.get_run(stale.user_attrs[names.ATTR_RUN_ID])
    assert run.info.status == "FAILED" and run.data.tags[names.TAG_STATE] == "failed"
    assert run.data.tags[names.TAG_REASON] == STALE_REASON
    first = client.get_run(study.trials[0].user_attrs[names.ATTR_RUN_ID])
    assert first.info.status == "FINISHED" and first.data.tags[names.TAG_STATE] == "complete"
    experiment = study.user_attrs[names.STUDY_EXPERIMENT_ID]
    (orphan,) = client.search_runs([experiment], f"tags.`{names.TAG_TRIAL}` = '99'")
    assert orphan.info.status == "FAILED" and orphan.data.tags[names.TAG_REASON] == ORPHAN_REASON

    again = cli.invoke(app, ["doctor", "doc", "--storage", storage])
    assert again.exit_code == 0 and "the two records agree (3 trials)" in again.output


def test_doctor_names_a_missing_study_in_one_line(workdir: Path) -> None:
    storage = f"sqlite:///{workdir / 'optuna.db'}"
    result = CliRunner().invoke(app, ["doctor", "nope", "--storage", storage])
    assert result.exit_code != 0
    assert "no study 'nope'" in str(result.exception) and "--storage" in str(result.exception)
