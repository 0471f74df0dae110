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
