"""Checks of a spec's top-level keys: name, base, eval, objectives and the scalar settings.

Each ``read_*`` returns the value the spec means, or a stand-in after reporting what is wrong
through ``problem`` (so every problem of a spec is found in one pass).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmsweep import names
from rmsweep.overrides import hydra_value
from rmsweep.study._hints import Problem, did_you_mean
from rmsweep.study._spec import AGGREGATES, DIRECTIONS, TOP_KEYS, Objective
from rmsweep.study._yamlvalues import parse_duration

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_OBJECTIVE_KEYS = ("metric", "direction", "aggregate")
_EVAL_SETTINGS = ("limit", "batch_size", "max_new_tokens")


def check_top_keys(data: Mapping[str, Any], problem: Problem) -> None:
    for key in data:
        if key not in TOP_KEYS:
            hint = did_you_mean(key, TOP_KEYS) or f" (known keys: {', '.join(TOP_KEYS)})"
            problem((key,), str(key), f"unknown key{hint}")


def read_name(data: Mapping[str, Any], problem: Problem) -> str | None:
    if "name" not in data:
        problem((), "name", "missing: give the study a name (letters, digits, _ . -)")
        return None
    name = data["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        problem(("name",), "name", f"{name!r} must be 1-100 letters, digits, '_', '.' or '-'")
        return None
    return name


def read_description(data: Mapping[str, Any], problem: Problem) -> str:
    description = data.get("description") or ""
    if not isinstance(description, str):
        problem(("description",), "description", "must be text")
        return ""
    return description


def read_base(data: Mapping[str, Any], problem: Problem) -> list[str] | None:
    base = data.get("base", [])
    if base is None:
        return []
    if not isinstance(base, list) or not all(isinstance(o, str) for o in base):
        problem(
            ("base",),
            "base",
            "must be a list of Hydra overrides, e.g. [device=cpu, reward=exact]",
        )
        return None
    return base


def read_eval(data: Mapping[str, Any], problem: Problem, base_dir: Path) -> list[str]:
    """``eval: {rmbench: PATH, limit: N}`` -> ``eval.*`` overrides; paths are relative to
    ``base_dir``, the spec's folder (a path given on the command line is relative to the
    caller's)."""
    from rmsweep.schema import BENCHMARKS

    value = data.get("eval")
    if value is None:
        return []
    if not isinstance(value, Mapping):
        problem(("eval",), "eval", "must be a mapping, e.g. {rmbench: PATH, limit: 200}")
        return []
    overrides = []
    for key, item in value.items():
        if key in BENCHMARKS:
            if not isinstance(item, str) or not item:
                problem(("eval", key), f"eval.{key}", "must be a file or folder path")
                continue
            path = (base_dir / Path(item).expanduser()).resolve()
            if not path.exists():
                problem(("eval", key), f"eval.{key}", f"no such file or folder: {path}")
            overrides.append(f"eval.{key}={hydra_value(str(path))}")
        elif key in _EVAL_SETTINGS:
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                problem(("eval", key), f"eval.{key}", f"{item!r} must be an integer >= 1")
                continue
            overrides.append(f"eval.{key}={item}")
        else:
            known = (*BENCHMARKS, *_EVAL_SETTINGS)
            hint = did_you_mean(str(key), known) or f" (known: {', '.join(known)})"
            problem(("eval", key), f"eval.{key}", f"unknown key{hint}")
    return overrides


def read_objectives(data: Mapping[str, Any], problem: Problem) -> list[Objective]:
    raw = data.get("objective")
    if raw is None:
        problem((), "objective", "missing: e.g. {metric: val/acc, direction: maximize}")
        return []
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        problem(("objective",), "objective", "must be a mapping or a non-empty list")
        return []
    objectives = []
    for index, item in enumerate(items):
        path: tuple[str | int, ...] = (
            ("objective",) if isinstance(raw, Mapping) else ("objective", index)
        )
        where = "objective" if isinstance(raw, Mapping) else f"objective[{index}]"
        objective = _read_objective(item, path, where, problem)
        if objective is not None:
            objectives.append(objective)
    metrics = [o.metric for o in objectives]
    for metric in {m for m in metrics if metrics.count(m) > 1}:
        problem(("objective",), "objective", f"{metric!r} is listed twice")
    return objectives


def _read_objective(
    item: Any, path: tuple[str | int, ...], where: str, problem: Problem
) -> Objective | None:
    if not isinstance(item, Mapping):
        problem(path, where, "must be a mapping {metric, direction, aggregate}")
        return None
    ok = True
    for key in item:
        if key not in _OBJECTIVE_KEYS:
            hint = did_you_mean(key, _OBJECTIVE_KEYS)
            problem((*path, key), f"{where}.{key}", f"unknown key{hint}")
            ok = False
    ok = _check_metric(item.get("metric"), path, where, problem) and ok
    direction = item.get("direction", "maximize")
    if direction not in DIRECTIONS:
        problem(
            (*path, "direction"),
            f"{where}.direction",
            f"{direction!r} must be maximize or minimize",
        )
        ok = False
    aggregate = item.get("aggregate", "last")
    if aggregate not in AGGREGATES:
        problem(
            (*path, "aggregate"),
            f"{where}.aggregate",
            f"{aggregate!r} must be last (the final value) or best (the best step)",
        )
        ok = False
    return Objective(item["metric"], direction, aggregate) if ok else None


def _check_metric(metric: Any, path: tuple[str | int, ...], where: str, problem: Problem) -> bool:
    """Whether ``metric`` is a short name (val/…, train aliases), an eval score or a veRL key."""
    if not isinstance(metric, str) or not metric:
        problem(path, f"{where}.metric", "missing: a metric name such as val/acc")
        return False
    if not (metric.startswith(names.VAL_PREFIX) or metric in names.TRAIN_ALIASES) and (
        "/" not in metric
    ):
        known = ", ".join(["val/<name>", *names.TRAIN_ALIASES])
        problem(
            (*path, "metric"),
            f"{where}.metric",
            f"{metric!r} is not a metric name: use {known} or a full veRL key",
        )
        return False
    if metric.startswith(names.EVAL_PREFIX):
        from rmsweep.schema import BENCHMARKS

        bench = metric.split("/")[1]
        if bench not in BENCHMARKS or metric.count("/") < 2:
            problem(
                (*path, "metric"),
                f"{where}.metric",
                f"{metric!r}: an eval metric is eval/<bench>/<score> with bench one of "
                f"{', '.join(BENCHMARKS)} (e.g. eval/rmbench/avg)",
            )
            return False
    return True


def read_int(
    data: Mapping[str, Any], key: str, default: int | None, problem: Problem, *, minimum: int
) -> int | None:
    if key not in data or data[key] is None:
        if default is None and key == "n_trials":
            problem((), key, "missing: how many trials to run, e.g. n_trials: 8")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problem((key,), key, f"{value!r} must be an integer >= {minimum}")
        return default
    return value


def read_timeout(data: Mapping[str, Any], problem: Problem) -> float | None:
    value = data.get("timeout")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None or seconds <= 0:
        problem(("timeout",), "timeout", f"{value!r} must be seconds or a duration like 20m, 2h")
    return seconds


def read_parallel(data: Mapping[str, Any], problem: Problem) -> int | None:
    value = data.get("parallel", "auto")
    if value in (None, "auto"):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problem(
            ("parallel",),
            "parallel",
            f"{value!r} must be auto (free GPUs ÷ GPUs per trial; 1 on cpu) or an integer >= 1",
        )
        return None
    return value


def read_storage(data: Mapping[str, Any], problem: Problem) -> str | None:
    value = data.get("storage")
    if value is None:
        return None
    if not isinstance(value, str) or "://" not in value:
        problem(
            ("storage",),
            "storage",
            f"{value!r} must be an SQLAlchemy URL, e.g. sqlite:///study.db or "
            "postgresql://user@host:5432/db (leave it out for <workdir>/optuna.db)",
        )
        return None
    return value


def read_bool(data: Mapping[str, Any], key: str, default: bool, problem: Problem) -> bool:
    """``key: true|false`` (``default`` when absent)."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        problem((key,), key, f"{value!r} must be true or false")
        return default
    return value
