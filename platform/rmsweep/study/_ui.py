"""A study in the MLflow UI: its runs table, and the compare view of its trials' runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rmsweep import links, names
from rmsweep.study._summary import state_of

if TYPE_CHECKING:
    import optuna

COMPARED = ("complete", "pruned")  # trials with a result curve to compare


@dataclass(frozen=True)
class StudyLinks:
    """Where a study is in the MLflow UI at ``base``."""

    runs: str  # the experiment's runs table: the study's parent run, its trials nested
    compare: str | None  # the trials' runs side by side (None: no trial has a run yet)


def compared_run_ids(study: optuna.Study) -> list[str]:
    """The runs of the complete and pruned trials, by trial number (every trial's run when
    none has finished: a failed run has no metric the compare view could plot)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(names.ATTR_RUN_ID)]
    finished = [t for t in trials if state_of(t) in COMPARED]
    return [str(t.user_attrs[names.ATTR_RUN_ID]) for t in (finished or trials)]


def study_links(study: optuna.Study, base: str) -> StudyLinks:
    """The study's runs URL and the compare URL of its trials, in the UI at ``base``."""
    experiment_id = str(study.user_attrs[names.STUDY_EXPERIMENT_ID])
    run_ids = compared_run_ids(study)
    return StudyLinks(
        runs=links.experiment_url(base, experiment_id),
        compare=links.compare_url(base, run_ids, [experiment_id]) if run_ids else None,
    )
