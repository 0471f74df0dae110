"""Samplers and pruners: the ones a spec may name, their options, their checks, their builders.

A spec names a sampler (``tpe``, ``random``, ``grid``, ``cmaes``) and a pruner (``none``,
``median``, ``successive_halving``, ``hyperband``), by name or as ``{name: …, option: …}``;
the options are passed on to Optuna as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import SpecError
from rmsweep.study._hints import Problem, did_you_mean, type_name
from rmsweep.study._space import SpaceEntry, grid
from rmsweep.study._yamlvalues import is_type

if TYPE_CHECKING:
    import optuna

Options = dict[str, type | tuple[type, ...]]

# Options each sampler / pruner accepts, with their types; a tuple with str allows 'auto'.
SAMPLERS: dict[str, Options] = {
    "tpe": {
        "multivariate": bool,
        "constant_liar": bool,
        "group": bool,
        "n_startup_trials": int,
        "n_ei_candidates": int,
    },
    "random": {},
    "grid": {},
    "cmaes": {"n_startup_trials": int, "sigma0": (int, float)},
}
PRUNERS: dict[str, Options] = {
    "none": {},
    "median": {
        "n_startup_trials": int,
        "n_warmup_steps": int,
        "interval_steps": int,
        "n_min_trials": int,
    },
    "successive_halving": {
        "min_resource": (int, str),
        "reduction_factor": int,
        "min_early_stopping_rate": int,
        "bootstrap_count": int,
    },
    "hyperband": {
        "min_resource": int,
        "max_resource": (int, str),
        "reduction_factor": int,
        "bootstrap_count": int,
    },
}
# The spec key → (its table, the component used when the key is left out).
_TABLES: dict[str, tuple[dict[str, Options], str]] = {
    "sampler": (SAMPLERS, "tpe"),
    "pruner": (PRUNERS, "none"),
}


@dataclass(frozen=True)
class Component:
    """A sampler or pruner: its name and the options passed to Optuna."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def read_component(key: str, raw: Any, problem: Problem) -> Component:
    """The spec's ``sampler`` or ``pruner`` (``key``); a bad one is reported and replaced by
    the default."""
    table, default = _TABLES[key]
    if raw is None:
        raw = default
    options: dict[str, Any] = {}
    name: Any  # a str once it is found in the table
    if isinstance(raw, str):
        name = raw
    elif isinstance(raw, Mapping):
        name = raw.get("name")
        options = {k: v for k, v in raw.items() if k != "name"}
    else:
        problem((key,), key, f"must be a name ({', '.join(table)}) or a mapping")
        return Component(default)
    if name not in table:
        hint = did_you_mean(name, table)
        path = (key, "name") if isinstance(raw, Mapping) else (key,)
        problem(path, key, f"{name!r} is not one of {', '.join(table)}{hint}")
        return Component(default)
    allowed = table[name]
    for option, value in options.items():
        if option not in allowed:
            known = ", ".join(allowed) or "none"
            hint = did_you_mean(option, allowed)
            problem(
                (key, option),
                f"{key}.{option}",
                f"{name} takes no option {option!r}{hint} (its options: {known})",
            )
        elif not is_type(value, allowed[option]) or (isinstance(value, str) and value != "auto"):
            problem(
                (key, option),
                f"{key}.{option}",
                f"{value!r} must be {type_name(allowed[option])}"
                + (" ('auto' allowed)" if isinstance(allowed[option], tuple) else ""),
            )
    return Component(name, options)


def check_pruner_fits(pruner: Component, metrics: Sequence[str], problem: Problem) -> None:
    """A pruner needs one objective with a per-step curve (``metrics``: the objectives')."""
    if metrics and metrics[0].startswith(names.EVAL_PREFIX) and pruner.name != "none":
        problem(
            ("pruner",),
            "pruner",
            f"{metrics[0]} is measured once, after training: a pruner needs a "
            "per-step curve (set pruner: none, or list val/acc first)",
        )
    if len(metrics) > 1 and pruner.name != "none":
        problem(
            ("pruner",),
            "pruner",
            f"{pruner.name} cannot prune a study with {len(metrics)} objectives "
            "(Optuna prunes single-objective studies only): set pruner: none",
        )


def check_sampler_fits(
    sampler: Component,
    n_objectives: int,
    space: Sequence[SpaceEntry],
    n_trials: int | None,
    problem: Problem,
) -> None:
    """cmaes needs one objective and a numeric entry; grid needs a small discrete space."""
    if sampler.name == "cmaes":
        if n_objectives > 1:
            problem(("sampler",), "sampler", "cmaes handles one objective: use tpe or random")
        if not any(e.kind in ("int", "float") for e in space):
            problem(("sampler",), "sampler", "cmaes needs int or float entries: use tpe or grid")
    if sampler.name == "grid":
        _check_grid(space, n_trials, problem)


def _check_grid(space: Sequence[SpaceEntry], n_trials: int | None, problem: Problem) -> None:
    searched = [e for e in space if e.searched]
    for entry in searched:
        if entry.when:
            problem(
                ("space", entry.key, "when"),
                f"space[{entry.key}]",
                "grid cannot search conditional entries: use tpe or random, or drop the condition",
            )
        elif not entry.discrete():
            problem(
                ("space", entry.key),
                f"space[{entry.key}]",
                "grid needs discrete entries: give this float a step (or use tpe or random)",
            )
    if n_trials is not None and searched and all(e.discrete() for e in searched):
        size = 1
        for entry in searched:
            size *= len(entry.grid_values())
        if n_trials > size:
            problem(
                ("n_trials",),
                "n_trials",
                f"{n_trials} exceeds the grid's {size} points: set n_trials <= {size}",
            )


def build_sampler(
    sampler: Component, space: Sequence[SpaceEntry], *, seed: int | None, source: str
) -> optuna.samplers.BaseSampler:
    """The spec's sampler: TPE (multivariate, constant liar) unless it says otherwise.

    Raises:
        SpecError: cmaes without the ``cmaes`` package, or a name not in :data:`SAMPLERS`
            (``source``: the spec file, named in the message).
    """
    import optuna

    name, options = sampler.name, dict(sampler.options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            options.setdefault("multivariate", True)
            options.setdefault("constant_liar", True)
            # Conditional entries: sample each group of co-occurring params jointly.
            options.setdefault("group", any(entry.when for entry in space))
            return optuna.samplers.TPESampler(seed=seed, **options)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            return _grid_sampler(grid(space), seed=seed)
        if name == "cmaes":
            try:
                import cmaes  # noqa: F401
            except ImportError:
                raise SpecError(
                    f"{source}: sampler cmaes needs the `cmaes` package: pip install cmaes"
                ) from None
            return optuna.samplers.CmaEsSampler(seed=seed, **options)
    raise SpecError(f"{source}: sampler {name!r} is not one of {', '.join(SAMPLERS)}")


def build_pruner(pruner: Component) -> optuna.pruners.BasePruner:
    """The spec's pruner (``none`` never prunes)."""
    import optuna

    options = dict(pruner.options)
    if pruner.name == "median":
        return optuna.pruners.MedianPruner(**options)
    if pruner.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    if pruner.name == "hyperband":
        return optuna.pruners.HyperbandPruner(**options)
    return optuna.pruners.NopPruner()


def _grid_sampler(grid_space: Any, *, seed: int | None) -> optuna.samplers.GridSampler:
    """Optuna's grid sampler without its ``study.stop()`` once the grid is covered.

    ``stop`` works only inside ``study.optimize``; the controller asks and tells, so the call
    raised RuntimeError at the last point's ``tell``. The controller stops claiming trials
    when the grid is exhausted instead (``_storage.claim_trial``).
    """
    import optuna

    class GridWithoutStop(optuna.samplers.GridSampler):
        def after_trial(self, *args: Any, **kwargs: Any) -> None:
            return None

    return GridWithoutStop(grid_space, seed=seed)
