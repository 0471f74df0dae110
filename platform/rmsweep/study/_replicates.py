"""Replicates: each configuration runs with ``replicates`` seeds, as sibling trials.

The first trial of a configuration (a sampled or enqueued one) queues its other seeds as
WAITING trials with the same params when it is claimed, under the study lock, so every
worker counts them against ``n_trials`` at once. Trial ``i`` of a configuration runs the base
seed + ``i`` (the ``seed=`` override) and records which configuration and seed it is. Each
seed is an ordinary trial: slots, pruning, retries (the same seed again), adoption, resume and
``study doctor`` need nothing more; a sampler sees each seed's value as one noisy observation
of its configuration, and ``study compare --by`` pools the seeds of a level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.study._space import suggest

if TYPE_CHECKING:
    import optuna

    from rmsweep.study._context import StudyContext


def queue_seeds(ctx: StudyContext, trial: optuna.Trial) -> None:
    """On a newly claimed trial: a new configuration becomes seed 0 and queues the others."""
    if ctx.spec.replicates == 1 or names.ATTR_REPLICATE in trial.user_attrs:
        return
    import optuna

    suggest(trial, ctx.spec.space)  # its params now; the controller's suggest returns them
    trial.set_user_attr(names.ATTR_REPLICATE, 0)
    trial.set_user_attr(names.ATTR_CONFIGURATION, trial.number)
    for seed in range(1, ctx.spec.replicates):
        ctx.study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs={names.ATTR_REPLICATE: seed, names.ATTR_CONFIGURATION: trial.number},
            )
        )


def seed_override(ctx: StudyContext, trial: optuna.Trial) -> list[str]:
    """``["seed=<base + i>"]`` for seed ``i`` of its configuration ([] without replicates)."""
    if ctx.spec.replicates == 1:
        return []
    return [f"seed={ctx.base_seed + int(trial.user_attrs.get(names.ATTR_REPLICATE, 0))}"]


def best_configuration(
    study: optuna.Study, maximize: bool
) -> tuple[list[optuna.trial.FrozenTrial], float] | None:
    """With replicates: the complete seeds of the configuration whose mean objective is best,
    best seed first, and that mean (None without replicates or without a complete trial)."""
    from optuna.trial import TrialState

    groups: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if names.ATTR_CONFIGURATION in trial.user_attrs:
            groups.setdefault(int(trial.user_attrs[names.ATTR_CONFIGURATION]), []).append(trial)
    if not groups:
        return None
    sign = 1.0 if maximize else -1.0
    means = {k: sum(t.values[0] for t in g) / len(g) for k, g in groups.items()}
    chosen = max(means, key=lambda k: (sign * means[k], -k))
    seeds = sorted(groups[chosen], key=lambda t: (-sign * t.values[0], t.number))
    return seeds, means[chosen]
