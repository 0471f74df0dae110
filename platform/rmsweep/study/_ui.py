"""A study in the MLflow UI: its runs table, and the compare view of its trials' runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rmsweep import links, names
from rmsweep.study._summary import state_of

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

COMPARED = ("complete", "pruned")  # trials with a result curve to compare


@dataclass(frozen=True)
class StudyLinks:
    """Where a study is in the MLflow UI at ``base``."""

    runs: str  # the study's trials (unfolded), with their swept params and scores as columns
    compare: str | None  # the trials' runs side by side (None: no trial has a run yet)


def compared_run_ids(study: optuna.Study) -> list[str]:
    """The runs of the complete and pruned trials, by trial number (every trial's run when
    none has finished: a failed run has no metric the compare view could plot)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(names.ATTR_RUN_ID)]
    finished = [t for t in trials if state_of(t) in COMPARED]
    return [str(t.user_attrs[names.ATTR_RUN_ID]) for t in (finished or trials)]


SHARED_VIEW_TAG = "mlflow.sharedViewState."  # + key: a view MLflow's UI opens from its URL


def study_links(study: optuna.Study, base: str, mlflow: MlflowClient | None = None) -> StudyLinks:
    """The study's runs URL and the compare URL of its trials, in the UI at ``base``.

    With ``mlflow``, the runs URL opens a view stored on the study's experiment (MLflow's
    shared view): the trials unfolded (the parent run filtered out), its swept params, the
    objectives and the benchmark scores as columns, best objective first. Without, or when
    the view cannot be stored, the experiment's plain runs table.
    """
    experiment_id = str(study.user_attrs[names.STUDY_EXPERIMENT_ID])
    run_ids = compared_run_ids(study)
    runs = links.experiment_url(base, experiment_id)
    if mlflow is not None:
        key, value = links.shared_view(*_trial_view(study, mlflow))
        try:
            mlflow.set_experiment_tag(experiment_id, SHARED_VIEW_TAG + key, value)
            runs = links.shared_view_url(base, experiment_id, key)
        except Exception:  # a read-only store: the plain table still shows the study
            pass
    return StudyLinks(
        runs=runs,
        compare=links.compare_url(base, run_ids, [experiment_id]) if run_ids else None,
    )


def _trial_view(study: optuna.Study, mlflow: MlflowClient) -> tuple[str, list[str], str]:
    """The trials' filter, their columns (swept params, objectives, benchmark headlines) and
    the first objective to sort by."""
    from rmsweep.evaluation._report import HEADLINE, metric_name

    swept = sorted({k for t in study.get_trials(deepcopy=False) for k in t.params})
    objectives = list(study.metric_names or [])  # short names: every trial run logs them too
    metrics = list(dict.fromkeys([*objectives, *(metric_name(k) for k in HEADLINE.values())]))
    columns = [f"params.`{k}`" for k in swept] + [f"metrics.`{m}`" for m in metrics]
    kind = f"tags.`{names.TAG_KIND}` = 'trial'"
    order = f"metrics.`{metrics[0]}`" if metrics else "attributes.start_time"
    return kind, columns, order
