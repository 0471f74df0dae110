"""Checks of a spec's ``space`` (its entries and their ``when`` conditions) and ``enqueue``.

An entry is written as a list (categorical choices), a scalar (a fixed value) or a mapping
with ``type``; each becomes a :class:`SpaceEntry`, or a problem reported through ``problems``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rmsweep.study._hints import Problem, did_you_mean
from rmsweep.study._space import ENTRY_KEYS, KINDS, SpaceEntry
from rmsweep.study._yamllines import Path_, Problems
from rmsweep.study._yamlvalues import as_number, is_type

_KEY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
Conditions = tuple[tuple[str, tuple[Any, ...]], ...]


def is_group(key: str) -> bool:
    """Whether ``key`` names a Hydra config group (a folder of options under configs/)."""
    from rmsweep.config import config_dir

    return "." not in key and (config_dir() / key).is_dir()


def read_space(data: Mapping[str, Any], problems: Problems) -> list[SpaceEntry]:
    raw = data.get("space")
    if raw is None:
        problems((), "space", "missing: a mapping of config keys to what to search")
        return []
    if not isinstance(raw, Mapping) or not raw:
        problems(("space",), "space", "must be a non-empty mapping of config keys")
        return []
    entries: list[SpaceEntry] = []
    for key, spec in raw.items():
        entry = _read_entry(str(key), spec, entries, problems)
        if entry is not None:
            entries.append(entry)
    return entries


def _read_entry(
    key: str, raw: Any, earlier: list[SpaceEntry], problems: Problems
) -> SpaceEntry | None:
    path: Path_ = ("space", key)
    where = f"space[{key}]"
    line = problems.doc.line(*path)
    if not _KEY.match(key):
        problems(path, where, "must be a dotted config key (reward.k) or a group (template)")
        return None
    if isinstance(raw, list):
        raw = {"type": "categorical", "choices": raw}
    elif not isinstance(raw, Mapping):
        raw = {"type": "fixed", "value": raw}
    elif "type" not in raw:
        kind = "categorical" if "choices" in raw else "fixed" if "value" in raw else None
        if kind is None:
            problems(path, where, "needs type: categorical | int | float | fixed (or a list)")
            return None
        raw = {**raw, "type": kind}
    for option in raw:
        if option not in ENTRY_KEYS:
            hint = did_you_mean(option, ENTRY_KEYS)
            problems((*path, option), f"{where}.{option}", f"unknown option{hint}")
    kind = raw["type"]
    when = _read_when(raw.get("when"), path, where, earlier, problems)
    group = is_group(key)
    if kind == "categorical":
        choices = _read_choices(raw.get("choices"), path, where, problems)
        if choices is None:
            return None
        return SpaceEntry(key, kind, group=group, choices=choices, when=when, line=line)
    if kind == "fixed":
        if "value" not in raw:
            problems(path, where, "fixed needs value: X")
            return None
        value = as_number(raw["value"])
        return SpaceEntry(key, kind, group=group, value=value, when=when, line=line)
    if group:
        problems(path, where, f"{key} is a config group: list its options (categorical) or fix one")
        return None
    if kind in ("int", "float"):
        return _read_numeric(key, kind, raw, path, where, when, line, problems)
    hint = did_you_mean(kind, KINDS)
    problems(
        (*path, "type"),
        f"{where}.type",
        f"{kind!r} is not categorical, int, float or fixed{hint}",
    )
    return None


def _read_choices(
    choices: Any, path: Path_, where: str, problem: Problem
) -> tuple[Any, ...] | None:
    if isinstance(choices, list):
        choices = [as_number(c) for c in choices]
    if not isinstance(choices, list) or not choices:
        problem((*path, "choices"), where, "categorical needs a non-empty choices list")
        return None
    bad = [c for c in choices if not isinstance(c, str | int | float | bool | None)]
    if bad:
        problem((*path, "choices"), where, f"choices must be scalars, got {bad[0]!r}")
        return None
    dupes = sorted({str(c) for c in choices if choices.count(c) > 1})
    if dupes:
        problem((*path, "choices"), where, f"repeated choice(s): {', '.join(dupes)}")
        return None
    return tuple(choices)


def _read_numeric(
    key: str,
    kind: str,
    raw: Mapping[str, Any],
    path: Path_,
    where: str,
    when: Conditions,
    line: int,
    problem: Problem,
) -> SpaceEntry | None:
    number: type | tuple[type, ...] = int if kind == "int" else (int, float)
    values = {}
    for bound in ("low", "high"):
        value = as_number(raw.get(bound))
        if not is_type(value, number):
            problem(
                (*path, bound) if bound in raw else path,
                f"{where}.{bound}",
                f"{kind} needs {bound}: a number{' (integer)' if kind == 'int' else ''}"
                + (f", got {raw.get(bound)!r}" if bound in raw else ""),
            )
            return None
        values[bound] = value
    low, high = values["low"], values["high"]
    step = as_number(raw.get("step"))
    log = raw.get("log", False)
    ok = True
    if not isinstance(log, bool):
        problem((*path, "log"), f"{where}.log", f"{log!r} must be true or false")
        ok = False
    if not low < high:
        problem(path, where, f"low < high must hold, but got (low={low}, high={high})")
        ok = False
    if log and low <= 0:
        problem((*path, "low"), where, f"log: true needs low > 0, but got low={low}")
        ok = False
    if step is not None:
        if not is_type(step, number) or step <= 0:
            problem((*path, "step"), f"{where}.step", f"{step!r} must be a number > 0")
            ok = False
        elif log:
            problem((*path, "step"), where, "step and log: true exclude each other (drop one)")
            ok = False
    if not ok:
        return None
    return SpaceEntry(key, kind, low=low, high=high, step=step, log=bool(log), when=when, line=line)


def _read_when(
    raw: Any, path: Path_, where: str, earlier: list[SpaceEntry], problem: Problem
) -> Conditions:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        problem(
            (*path, "when"),
            f"{where}.when",
            "must map earlier entries to values, e.g. when: {reward.shape: exponential}",
        )
        return ()
    conditions = []
    by_key = {e.key: e for e in earlier}
    for other, allowed in raw.items():
        allowed_values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
        entry = by_key.get(other)
        if entry is None or entry.kind not in ("categorical", "fixed"):
            above = [e.key for e in earlier if e.kind in ("categorical", "fixed")]
            problem(
                (*path, "when", other),
                f"{where}.when",
                f"{other!r} must be a categorical or fixed entry above this one"
                + (f" (above: {', '.join(above)})" if above else " (none above)"),
            )
            continue
        options = entry.choices if entry.kind == "categorical" else (entry.value,)
        for value in allowed_values:
            if value not in options:
                problem(
                    (*path, "when", other),
                    f"{where}.when.{other}",
                    f"{value!r} is not one of {other}'s values ({', '.join(map(str, options))})",
                )
        conditions.append((str(other), allowed_values))
    return tuple(conditions)


def check_space_searches(space: list[SpaceEntry], problem: Problem) -> None:
    """A space of fixed values only leaves nothing to search."""
    if space and not any(e.searched for e in space):
        problem(("space",), "space", "has only fixed values: nothing to search")


def read_enqueue(
    data: Mapping[str, Any], space: list[SpaceEntry], problem: Problem
) -> list[dict[str, Any]]:
    """The trials to run first: each a mapping of searched keys to values inside the space."""
    raw = data.get("enqueue")
    if raw is None:
        return []
    if not isinstance(raw, list):
        problem(("enqueue",), "enqueue", "must be a list of {key: value} trials to run first")
        return []
    by_key = {e.key: e for e in space if e.searched}
    trials = []
    for index, item in enumerate(raw):
        path: Path_ = ("enqueue", index)
        where = f"enqueue[{index}]"
        if not isinstance(item, Mapping) or not item:
            problem(path, where, "must be a non-empty mapping of space keys to values")
            continue
        ok = True
        item = {key: as_number(value) for key, value in item.items()}
        for key, value in item.items():
            entry = by_key.get(key)
            if entry is None:
                hint = did_you_mean(key, by_key)
                problem((*path, key), f"{where}.{key}", f"not a searched space key{hint}")
                ok = False
            elif not _in_range(entry, value):
                problem((*path, key), f"{where}.{key}", f"{value!r} is outside {_describe(entry)}")
                ok = False
        for key in item:
            entry = by_key.get(key)
            if entry is not None and entry.when and not entry.active(item):
                problem(
                    (*path, key),
                    f"{where}.{key}",
                    "is inactive for this trial's values (its `when` does not hold)",
                )
                ok = False
        if ok:
            trials.append(dict(item))
    return trials


def _in_range(entry: SpaceEntry, value: Any) -> bool:
    if entry.kind == "categorical":
        return value in entry.choices
    if not is_type(value, (int, float)):
        return False
    if entry.kind == "int" and not isinstance(value, int):
        return False
    assert entry.low is not None and entry.high is not None
    return bool(entry.low <= value <= entry.high)


def _describe(entry: SpaceEntry) -> str:
    if entry.kind == "categorical":
        return "its choices (" + ", ".join(map(str, entry.choices)) + ")"
    return f"[{entry.low}, {entry.high}]"
