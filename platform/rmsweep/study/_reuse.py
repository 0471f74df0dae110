"""Identical configurations are not trained twice.

Seeded runs are deterministic: when the sampler proposes a configuration whose digest (the
runner's ``config_digest``: the resolved config with the code, data, reward and template
digests) equals a COMPLETE trial's, the controller tells Optuna that trial's values and
records the reuse as a child run of its own (tag ``rmsweep.reused_from`` = the source run,
the source's params, ``objective/…``, no job). ``reuse: false`` in a spec turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmsweep import names

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient
    from optuna.trial import FrozenTrial

    from rmsweep.study._context import StudyContext


def config_digest(runner: Any, overrides: Sequence[str]) -> str | None:
    """The runner's digest of a trial's config; None when the runner has no such notion, or
    the config cannot be built (``start`` then fails the trial with the reason)."""
    digest = getattr(runner, "config_digest", None)
    try:
        return None if digest is None else digest(overrides)
    except Exception:
        return None


def reuse_finished(
    ctx: StudyContext,
    runner: Any,
    trial: optuna.Trial,
    overrides: Sequence[str],
    tags: Mapping[str, str],
) -> tuple[FrozenTrial, dict[str, float]] | None:
    """When a COMPLETE trial ran this trial's configuration: record the reuse (the trial's
    digest attr, a reuse run, its attrs) and return that trial and the values to tell."""
    if not ctx.spec.reuse or (digest := config_digest(runner, overrides)) is None:
        return None
    trial.set_user_attr(names.ATTR_CONFIG_DIGEST, digest)
    source = reusable(ctx.study.get_trials(deepcopy=False), digest)
    if source is None:
        return None
    source_run = str(source.user_attrs[names.ATTR_RUN_ID])
    run_id = create_reuse_run(ctx.mlflow, source_run, tags=tags, parent_run_id=ctx.parent_run_id)
    keys = {k for o in ctx.spec.objectives for k in (o.metric, o.key(ctx.data_source))}
    evaluated = (names.EVAL_PREFIX, names.BASELINE_METRIC_PREFIX)  # its model's judges too
    keys |= {k for k in ctx.mlflow.get_run(source_run).data.metrics if k.startswith(evaluated)}
    copy_curves(ctx.mlflow, source_run, run_id, sorted(keys))
    trial.set_user_attr(names.ATTR_RUN_ID, run_id)
    trial.set_user_attr(names.ATTR_REUSED_FROM, source.number)
    metrics = (o.metric for o in ctx.spec.objectives)
    return source, dict(zip(metrics, source.values or (), strict=True))


def copy_curves(mlflow: MlflowClient, source: str, target: str, keys: Sequence[str]) -> None:
    """The objectives' curves and the benchmark scores, so the reused trial reads like its
    source in the UI."""
    from mlflow.entities import Metric

    points = [
        Metric(m.key, m.value, m.timestamp, m.step)
        for key in keys
        for m in mlflow.get_metric_history(source, key)
    ]
    for start in range(0, len(points), 1000):
        mlflow.log_batch(target, metrics=points[start : start + 1000])


def reusable(trials: Sequence[FrozenTrial], digest: str) -> FrozenTrial | None:
    """The first COMPLETE trial with this config digest (and a run to point at)."""
    from optuna.trial import TrialState

    for trial in sorted(trials, key=lambda t: t.number):
        attrs = trial.user_attrs
        if (
            trial.state == TrialState.COMPLETE
            and attrs.get(names.ATTR_CONFIG_DIGEST) == digest
            and attrs.get(names.ATTR_RUN_ID)
        ):
            return trial
    return None


def create_reuse_run(
    mlflow: MlflowClient,
    source_run_id: str,
    *,
    tags: Mapping[str, str],
    parent_run_id: str,
) -> str:
    """A child run that says "this configuration's result is run ``source_run_id``'s": its
    params, and the tag the UI filters on. The controller ends it (complete) after ``tell``."""
    from rmsweep import tracking

    source = mlflow.get_run(source_run_id)
    trial = tags.get(names.TAG_TRIAL, "?")
    return tracking.create_run(
        mlflow,
        source.info.experiment_id,
        run_name=f"{tags.get(names.TAG_STUDY, 'study')}-trial-{trial}-reused",
        tags={
            **tags,
            names.TAG_REUSED_FROM: source_run_id,
            "mlflow.note.content": f"Not trained: the same configuration as run {source_run_id}",
        },
        params=dict(source.data.params),
        parent_run_id=parent_run_id,
    )
