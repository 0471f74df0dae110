"""Spec checks against the config tree: space keys exist, every option composes.

The base overrides are composed once; then each categorical choice, fixed value and both
ends of each numeric range are composed on top of it, so a bad value (a missing group
option, a wrong type, a template for the wrong task) is reported before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmsweep.errors import ConfigError
from rmsweep.overrides import hydra_value
from rmsweep.study._hints import Problem, did_you_mean
from rmsweep.study._space import SpaceEntry


class ConfigChecks:
    """Checks against the config tree: compose the base once, then each option against it."""

    def __init__(self, problem: Problem, base: list[str]) -> None:
        self.problem = problem
        self.base = base

    def run(self, space: list[SpaceEntry]) -> None:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        from rmsweep.config import compose, config_dir

        try:
            cfg = compose(self.base)
        except ConfigError as err:
            self.problem(("base",), "base", _strip(str(err)))
            return
        root = config_dir()
        missing = object()
        for entry in space:
            path: tuple[str | int, ...] = ("space", entry.key)
            where = f"space[{entry.key}]"
            if entry.group:
                self._group(entry, root / entry.key, path, where)
                continue
            value = OmegaConf.select(cfg, entry.key, default=missing)
            if value is missing:
                parent = entry.key.rpartition(".")[0]
                node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
                keys = list(node.keys()) if isinstance(node, DictConfig) else []
                hint = did_you_mean(entry.key.rpartition(".")[2], keys)
                self.problem(path, where, f"no such key in the composed base config{hint}")
                continue
            if isinstance(value, DictConfig | ListConfig):
                self.problem(
                    path,
                    where,
                    f"{entry.key} is a section, not a value: search one of its keys "
                    f"({', '.join(map(str, value.keys())) if isinstance(value, DictConfig) else ''})",
                )
                continue
            for candidate in _probe_values(entry):
                self._compose(entry, f"{entry.key}={hydra_value(candidate)}", path, where)

    def _group(self, entry: SpaceEntry, group_dir: Path, path: Any, where: str) -> None:
        options = sorted(p.stem for p in group_dir.glob("*.yaml"))
        values = entry.choices if entry.kind == "categorical" else (entry.value,)
        for value in values:
            if str(value) not in options:
                hint = did_you_mean(value, options)
                self.problem(
                    (*path, "choices") if entry.kind == "categorical" else path,
                    where,
                    f"{value!r} is not an option of configs/{entry.key}/ "
                    f"({', '.join(options)}){hint}",
                )
            else:
                self._compose(entry, f"{entry.key}={value}", path, where)

    def _compose(self, entry: SpaceEntry, override: str, path: Any, where: str) -> None:
        from rmsweep.config import compose

        try:
            compose([*self.base, override])
        except ConfigError as err:
            self.problem(path, where, f"{override} does not compose: {_strip(str(err))}")


def _probe_values(entry: SpaceEntry) -> list[Any]:
    """The values worth composing: every choice, the fixed value, both ends of a range."""
    if entry.kind == "categorical":
        return list(entry.choices)
    if entry.kind == "fixed":
        return [entry.value]
    if entry.kind == "int":
        return [int(entry.low or 0), int(entry.high or 0)]
    return [float(entry.low or 0.0), float(entry.high or 0.0)]


def _strip(message: str) -> str:
    return message.removeprefix("config: ")
