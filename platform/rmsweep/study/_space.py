"""The search space: one entry per config key or Hydra group, sampled define-by-run.

Param names are Hydra override keys, so one name means the same thing in the spec, in Optuna
and in MLflow:

- a **key** entry (``reward.k``, ``trainer.lr``) becomes the override ``reward.k=4.0``; the
  run records the same dotted key as an MLflow param;
- a **group** entry (``template``, ``reward``) picks a config option and becomes the override
  ``template=pointwise_plain``; the resolved config has no key of that name (the option fills
  ``template.*``), so the controller logs the choice as an extra MLflow param ``template``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rmsweep.overrides import hydra_value

if TYPE_CHECKING:
    import optuna

KINDS = ("categorical", "int", "float", "fixed")
# The options an entry may give (``type`` is one of KINDS).
ENTRY_KEYS = ("type", "choices", "low", "high", "step", "log", "value", "when")


@dataclass(frozen=True)
class SpaceEntry:
    """One searchable (or fixed) config key or Hydra group.

    Attributes:
        key: dotted config key (``reward.k``) or group name (``template``).
        kind: categorical, int, float or fixed.
        group: True when ``key`` is a Hydra config group (its values are option names).
        choices: categorical values.
        low, high, step, log: the numeric range (``step`` and ``log`` exclude each other).
        value: the fixed value.
        when: conditions, all of which must hold: ``(other key, allowed values)``.
        line: where the entry starts in its spec file.
    """

    key: str
    kind: str
    group: bool = False
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    value: Any = None
    when: tuple[tuple[str, tuple[Any, ...]], ...] = field(default=())
    line: int = 0

    @property
    def searched(self) -> bool:
        """Whether Optuna samples this entry (fixed entries are plain overrides)."""
        return self.kind != "fixed"

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether every condition holds for the values sampled so far."""
        return all(key in values and values[key] in allowed for key, allowed in self.when)

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution of a searched entry."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            assert self.low is not None and self.high is not None
            return IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        if self.kind == "float":
            assert self.low is not None and self.high is not None
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        raise ValueError(f"{self.key}: a fixed entry has no distribution")

    def grid_values(self) -> list[Any]:
        """Every value of a discrete entry (categorical, int, float with a step)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "fixed":
            return [self.value]
        assert self.low is not None and self.high is not None
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "float" and self.step:
            n = int(math.floor((self.high - self.low) / self.step + 1e-9))
            return [round(self.low + i * self.step, 12) for i in range(n + 1)]
        raise ValueError(f"{self.key}: a continuous entry has no grid")

    def ends(self) -> list[Any]:
        """Each choice of a categorical entry, else the range's two ends (the fixed value)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "fixed":
            return [self.value]
        assert self.low is not None and self.high is not None
        low, high = self.low, self.high
        if self.step and not self.log:  # the grid's last value, without building the grid
            high = low + math.floor((high - low) / self.step + 1e-9) * self.step
        if self.kind == "int":
            return list(dict.fromkeys([int(low), int(high)]))
        return list(dict.fromkeys([low, round(high, 12) if self.step else high]))

    def discrete(self) -> bool:
        """Whether :meth:`grid_values` can enumerate this entry."""
        return self.kind in ("categorical", "fixed") or (
            (self.kind == "int" and not self.log) or (self.kind == "float" and bool(self.step))
        )


def suggest(trial: optuna.Trial, space: Sequence[SpaceEntry]) -> dict[str, Any]:
    """Sample the trial's values define-by-run: an entry whose conditions fail is skipped.

    Returns:
        Every active entry's value by key (fixed entries included), in spec order.
    """
    values: dict[str, Any] = {}
    for entry in space:
        if not entry.active(values):
            continue
        if entry.kind == "fixed":
            values[entry.key] = entry.value
        elif entry.kind == "categorical":
            values[entry.key] = trial.suggest_categorical(entry.key, list(entry.choices))
        elif entry.kind == "int":
            assert entry.low is not None and entry.high is not None
            values[entry.key] = trial.suggest_int(
                entry.key, int(entry.low), int(entry.high), step=int(entry.step or 1), log=entry.log
            )
        else:
            assert entry.low is not None and entry.high is not None
            values[entry.key] = trial.suggest_float(
                entry.key, entry.low, entry.high, step=entry.step, log=entry.log
            )
    return values


def to_overrides(space: Sequence[SpaceEntry], values: Mapping[str, Any]) -> list[str]:
    """Hydra overrides for sampled values: group choices first, then keys (spec order)."""
    by_key = {entry.key: entry for entry in space}
    groups, keys = [], []
    for key, value in values.items():
        entry = by_key.get(key)
        if entry is not None and entry.group:
            groups.append(f"{key}={value}")
        else:
            keys.append(f"{key}={hydra_value(value)}")
    return groups + keys


def corners(space: Sequence[SpaceEntry]) -> list[dict[str, Any]]:
    """The corners of the space: every combination of each active entry's choices or range
    ends (``low``, ``high``), conditions applied as :func:`suggest` applies them.

    Returns:
        One dict of values per corner, in spec order (what ``suggest`` would return).
    """
    points: list[dict[str, Any]] = [{}]
    for entry in space:
        grown = []
        for values in points:
            if not entry.active(values):
                grown.append(values)
                continue
            grown.extend({**values, entry.key: end} for end in entry.ends())
        points = grown
    return points


def group_keys(space: Sequence[SpaceEntry]) -> set[str]:
    """Keys of the entries that pick a Hydra group option."""
    return {entry.key for entry in space if entry.group}


def grid(space: Sequence[SpaceEntry]) -> dict[str, list[Any]]:
    """The grid sampler's search space: every searched entry's values."""
    return {entry.key: entry.grid_values() for entry in space if entry.searched}
