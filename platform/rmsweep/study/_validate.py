"""Spec validation: parse a sweep YAML with line numbers and collect every problem.

Each message reads ``file:line: where: what (how to fix)``; :func:`parse_spec` raises one
SpecError holding all of them, one per line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmsweep import names
from rmsweep.errors import SpecError
from rmsweep.study._space import SpaceEntry
from rmsweep.study._spec import (
    AGGREGATES,
    DIRECTIONS,
    ENTRY_KEYS,
    PRUNERS,
    SAMPLERS,
    TOP_KEYS,
    Component,
    Objective,
    StudySpec,
)
from rmsweep.study._yamllines import LocatedYaml, load_located

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
# YAML 1.1 (PyYAML) reads 1e-4 as text: a number needs a dot there (1.0e-4). Fixed up below.
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")


def load_spec(path: str | Path, *, check_config: bool = True) -> StudySpec:
    """Read and validate a spec file.

    Args:
        path: the YAML file.
        check_config: also check space keys and options against the composed base config.

    Returns:
        The validated spec.

    Raises:
        SpecError: every problem, one ``file:line: where: what`` per line.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise SpecError(f"{path}: cannot read the spec: {err.strerror}") from None
    return parse_spec(
        text, source=str(path), check_config=check_config, base_dir=path.resolve().parent
    )


def parse_spec(
    text: str,
    *,
    source: str = "<spec>",
    check_config: bool = True,
    base_dir: Path | None = None,
) -> StudySpec:
    """Validate spec text (see :func:`load_spec`); relative paths in it are relative to
    ``base_dir`` (the spec file's folder; default: the current directory)."""
    doc = load_located(text, source)
    checker = _Checker(doc, source, base_dir or Path.cwd())
    spec = checker.build(text, check_config=check_config)
    if checker.problems:
        problems = [text for _, text in sorted(checker.problems, key=lambda p: p[0])]
        if len(problems) > 1:
            problems.insert(0, f"{source}: {len(problems)} problems")
        raise SpecError("\n".join(problems))
    assert spec is not None
    return spec


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90``, ``90s``, ``20m`` or ``2h``; None when it is not one of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        return None
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def _number(value: Any) -> Any:
    """``"1e-4"`` → ``0.0001``: what the author of a YAML spec meant; anything else unchanged."""
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        return float(value)
    return value


def is_group(key: str) -> bool:
    """Whether ``key`` names a Hydra config group (a folder of options under configs/)."""
    from rmsweep.config import config_dir

    return "." not in key and (config_dir() / key).is_dir()


def did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_type(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kinds)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


class _Checker:
    """Walks a parsed spec, builds the StudySpec and collects every problem."""

    def __init__(self, doc: LocatedYaml, source: str, base_dir: Path) -> None:
        self.doc = doc
        self.source = source
        self.base_dir = base_dir
        self.problems: list[tuple[int, str]] = []

    def problem(self, path: tuple[str | int, ...], where: str, message: str) -> None:
        line = self.doc.line(*path)
        self.problems.append((line, f"{self.source}:{line}: {where}: {message}"))

    # --- top level -------------------------------------------------------------------------
    def build(self, text: str, *, check_config: bool) -> StudySpec | None:
        data = self.doc.data
        if not isinstance(data, Mapping):
            self.problem((), "spec", "must be a mapping of keys (name, objective, space, …)")
            return None
        for key in data:
            if key not in TOP_KEYS:
                hint = did_you_mean(key, TOP_KEYS) or f" (known keys: {', '.join(TOP_KEYS)})"
                self.problem((key,), str(key), f"unknown key{hint}")
        name = self._name(data)
        base = self._base(data)
        if base is not None:
            base = base + self._eval(data)
        objectives = self._objectives(data)
        space = self._space(data)
        sampler = self._component(data, "sampler", SAMPLERS, "tpe")
        pruner = self._component(data, "pruner", PRUNERS, "none")
        n_trials = self._int(data, "n_trials", None, minimum=1)
        retries = self._int(data, "retries", 0, minimum=0)
        seed = self._int(data, "seed", None, minimum=0)
        timeout_s = self._timeout(data)
        parallel = self._parallel(data)
        storage = self._storage(data)
        description = data.get("description") or ""
        if not isinstance(description, str):
            self.problem(("description",), "description", "must be text")
            description = ""
        self._cross_checks(objectives, space, sampler, pruner, n_trials)
        enqueue = self._enqueue(data, space)
        if n_trials is not None and len(enqueue) > n_trials:
            self.problem(
                ("enqueue",),
                "enqueue",
                f"lists {len(enqueue)} trials but n_trials is {n_trials}: raise n_trials "
                "or drop some",
            )
        if check_config and base is not None and space:
            from rmsweep.study._config_checks import ConfigChecks

            ConfigChecks(self.problem, base).run(space)
        if self.problems:
            return None
        assert name is not None and base is not None and n_trials is not None
        return StudySpec(
            name=name,
            base=tuple(base),
            objectives=tuple(objectives),
            space=tuple(space),
            sampler=sampler,
            pruner=pruner,
            n_trials=n_trials,
            timeout_s=timeout_s,
            parallel=parallel,
            retries=retries or 0,
            seed=seed,
            storage=storage,
            enqueue=tuple(enqueue),
            description=description,
            source=self.source,
            text=text,
        )

    def _name(self, data: Mapping[str, Any]) -> str | None:
        if "name" not in data:
            self.problem((), "name", "missing: give the study a name (letters, digits, _ . -)")
            return None
        name = data["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem(
                ("name",), "name", f"{name!r} must be 1-100 letters, digits, '_', '.' or '-'"
            )
            return None
        return name

    def _base(self, data: Mapping[str, Any]) -> list[str] | None:
        base = data.get("base", [])
        if base is None:
            return []
        if not isinstance(base, list) or not all(isinstance(o, str) for o in base):
            self.problem(
                ("base",),
                "base",
                "must be a list of Hydra overrides, e.g. [device=cpu, reward=exact]",
            )
            return None
        return base

    def _objectives(self, data: Mapping[str, Any]) -> list[Objective]:
        raw = data.get("objective")
        if raw is None:
            self.problem((), "objective", "missing: e.g. {metric: val/acc, direction: maximize}")
            return []
        items = [raw] if isinstance(raw, Mapping) else raw
        if not isinstance(items, list) or not items:
            self.problem(("objective",), "objective", "must be a mapping or a non-empty list")
            return []
        path_prefix: tuple[str | int, ...] = ("objective",)
        objectives = []
        for index, item in enumerate(items):
            path = path_prefix if isinstance(raw, Mapping) else (*path_prefix, index)
            where = "objective" if isinstance(raw, Mapping) else f"objective[{index}]"
            objective = self._objective(item, path, where)
            if objective is not None:
                objectives.append(objective)
        metrics = [o.metric for o in objectives]
        for metric in {m for m in metrics if metrics.count(m) > 1}:
            self.problem(("objective",), "objective", f"{metric!r} is listed twice")
        return objectives

    def _objective(self, item: Any, path: tuple[str | int, ...], where: str) -> Objective | None:
        if not isinstance(item, Mapping):
            self.problem(path, where, "must be a mapping {metric, direction, aggregate}")
            return None
        ok = True
        for key in item:
            if key not in ("metric", "direction", "aggregate"):
                hint = did_you_mean(key, ("metric", "direction", "aggregate"))
                self.problem((*path, key), f"{where}.{key}", f"unknown key{hint}")
                ok = False
        metric = item.get("metric")
        if not isinstance(metric, str) or not metric:
            self.problem(path, f"{where}.metric", "missing: a metric name such as val/acc")
            ok = False
        elif not (metric.startswith(names.VAL_PREFIX) or metric in names.TRAIN_ALIASES) and (
            "/" not in metric
        ):
            known = ", ".join(["val/<name>", *names.TRAIN_ALIASES])
            self.problem(
                (*path, "metric"),
                f"{where}.metric",
                f"{metric!r} is not a metric name: use {known} or a full veRL key",
            )
            ok = False
        elif metric.startswith(names.EVAL_PREFIX):
            from rmsweep.schema import BENCHMARKS

            bench = metric.split("/")[1]
            if bench not in BENCHMARKS or metric.count("/") < 2:
                self.problem(
                    (*path, "metric"),
                    f"{where}.metric",
                    f"{metric!r}: an eval metric is eval/<bench>/<score> with bench one of "
                    f"{', '.join(BENCHMARKS)} (e.g. eval/rmbench/avg)",
                )
                ok = False
        direction = item.get("direction", "maximize")
        if direction not in DIRECTIONS:
            self.problem(
                (*path, "direction"),
                f"{where}.direction",
                f"{direction!r} must be maximize or minimize",
            )
            ok = False
        aggregate = item.get("aggregate", "last")
        if aggregate not in AGGREGATES:
            self.problem(
                (*path, "aggregate"),
                f"{where}.aggregate",
                f"{aggregate!r} must be last (the final value) or best (the best step)",
            )
            ok = False
        return Objective(metric, direction, aggregate) if ok else None

    def _int(
        self, data: Mapping[str, Any], key: str, default: int | None, *, minimum: int
    ) -> int | None:
        if key not in data or data[key] is None:
            if default is None and key == "n_trials":
                self.problem((), key, "missing: how many trials to run, e.g. n_trials: 8")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem((key,), key, f"{value!r} must be an integer >= {minimum}")
            return default
        return value

    def _timeout(self, data: Mapping[str, Any]) -> float | None:
        value = data.get("timeout")
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds is None or seconds <= 0:
            self.problem(
                ("timeout",), "timeout", f"{value!r} must be seconds or a duration like 20m, 2h"
            )
        return seconds

    def _parallel(self, data: Mapping[str, Any]) -> int | None:
        value = data.get("parallel", "auto")
        if value in (None, "auto"):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(
                ("parallel",),
                "parallel",
                f"{value!r} must be auto (free GPUs ÷ GPUs per trial; 1 on cpu) or an integer >= 1",
            )
            return None
        return value

    def _eval(self, data: Mapping[str, Any]) -> list[str]:
        """``eval: {rmbench: PATH, limit: N}`` -> ``eval.*`` overrides; paths are relative to
        the spec's folder (a path given on the command line is relative to the caller's)."""
        from rmsweep.schema import BENCHMARKS
        from rmsweep.verl import hydra_value

        value = data.get("eval")
        if value is None:
            return []
        if not isinstance(value, Mapping):
            self.problem(("eval",), "eval", "must be a mapping, e.g. {rmbench: PATH, limit: 200}")
            return []
        overrides = []
        for key, item in value.items():
            if key in BENCHMARKS:
                if not isinstance(item, str) or not item:
                    self.problem(("eval", key), f"eval.{key}", "must be a file or folder path")
                    continue
                path = (self.base_dir / Path(item).expanduser()).resolve()
                if not path.exists():
                    self.problem(("eval", key), f"eval.{key}", f"no such file or folder: {path}")
                overrides.append(f"eval.{key}={hydra_value(str(path))}")
            elif key in ("limit", "batch_size", "max_new_tokens"):
                if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                    self.problem(("eval", key), f"eval.{key}", f"{item!r} must be an integer >= 1")
                    continue
                overrides.append(f"eval.{key}={item}")
            else:
                known = (*BENCHMARKS, "limit", "batch_size", "max_new_tokens")
                hint = did_you_mean(str(key), known) or f" (known: {', '.join(known)})"
                self.problem(("eval", key), f"eval.{key}", f"unknown key{hint}")
        return overrides

    def _storage(self, data: Mapping[str, Any]) -> str | None:
        value = data.get("storage")
        if value is None:
            return None
        if not isinstance(value, str) or "://" not in value:
            self.problem(
                ("storage",),
                "storage",
                f"{value!r} must be an SQLAlchemy URL, e.g. sqlite:///study.db or "
                "postgresql://user@host:5432/db (leave it out for <workdir>/optuna.db)",
            )
            return None
        return value

    # --- sampler and pruner ------------------------------------------------------------------
    def _component(
        self,
        data: Mapping[str, Any],
        key: str,
        table: dict[str, dict[str, type | tuple[type, ...]]],
        default: str,
    ) -> Component:
        raw = data.get(key, default)
        if raw is None:
            raw = default
        options: dict[str, Any] = {}
        if isinstance(raw, str):
            name = raw
        elif isinstance(raw, Mapping):
            name = raw.get("name")
            options = {k: v for k, v in raw.items() if k != "name"}
        else:
            self.problem((key,), key, f"must be a name ({', '.join(table)}) or a mapping")
            return Component(default)
        if name not in table:
            hint = did_you_mean(name, table)
            path = (key, "name") if isinstance(raw, Mapping) else (key,)
            self.problem(path, key, f"{name!r} is not one of {', '.join(table)}{hint}")
            return Component(default)
        allowed = table[name]
        for option, value in options.items():
            if option not in allowed:
                known = ", ".join(allowed) or "none"
                hint = did_you_mean(option, allowed)
                self.problem(
                    (key, option),
                    f"{key}.{option}",
                    f"{name} takes no option {option!r}{hint} (its options: {known})",
                )
            elif not _is_type(value, allowed[option]) or (
                isinstance(value, str) and value != "auto"
            ):
                self.problem(
                    (key, option),
                    f"{key}.{option}",
                    f"{value!r} must be {_type_name(allowed[option])}"
                    + (" ('auto' allowed)" if isinstance(allowed[option], tuple) else ""),
                )
        return Component(name, options)

    # --- space ---------------------------------------------------------------------------------
    def _space(self, data: Mapping[str, Any]) -> list[SpaceEntry]:
        raw = data.get("space")
        if raw is None:
            self.problem((), "space", "missing: a mapping of config keys to what to search")
            return []
        if not isinstance(raw, Mapping) or not raw:
            self.problem(("space",), "space", "must be a non-empty mapping of config keys")
            return []
        entries: list[SpaceEntry] = []
        for key, spec in raw.items():
            entry = self._entry(str(key), spec, entries)
            if entry is not None:
                entries.append(entry)
        return entries

    def _entry(self, key: str, raw: Any, earlier: list[SpaceEntry]) -> SpaceEntry | None:
        path: tuple[str | int, ...] = ("space", key)
        where = f"space[{key}]"
        line = self.doc.line(*path)
        if not re.match(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$", key):
            self.problem(
                path, where, "must be a dotted config key (reward.k) or a group (template)"
            )
            return None
        if isinstance(raw, list):
            raw = {"type": "categorical", "choices": raw}
        elif not isinstance(raw, Mapping):
            raw = {"type": "fixed", "value": raw}
        elif "type" not in raw:
            kind = "categorical" if "choices" in raw else "fixed" if "value" in raw else None
            if kind is None:
                self.problem(
                    path, where, "needs type: categorical | int | float | fixed (or a list)"
                )
                return None
            raw = {**raw, "type": kind}
        for option in raw:
            if option not in ENTRY_KEYS:
                hint = did_you_mean(option, ENTRY_KEYS)
                self.problem((*path, option), f"{where}.{option}", f"unknown option{hint}")
        kind = raw["type"]
        when = self._when(raw.get("when"), path, where, earlier)
        group = is_group(key)
        if kind == "categorical":
            choices = raw.get("choices")
            if isinstance(choices, list):
                choices = [_number(c) for c in choices]
            if not isinstance(choices, list) or not choices:
                self.problem(
                    (*path, "choices"), where, "categorical needs a non-empty choices list"
                )
                return None
            bad = [c for c in choices if not isinstance(c, str | int | float | bool | None)]
            if bad:
                self.problem((*path, "choices"), where, f"choices must be scalars, got {bad[0]!r}")
                return None
            dupes = sorted({str(c) for c in choices if choices.count(c) > 1})
            if dupes:
                self.problem((*path, "choices"), where, f"repeated choice(s): {', '.join(dupes)}")
                return None
            return SpaceEntry(key, kind, group=group, choices=tuple(choices), when=when, line=line)
        if kind == "fixed":
            if "value" not in raw:
                self.problem(path, where, "fixed needs value: X")
                return None
            value = _number(raw["value"])
            return SpaceEntry(key, kind, group=group, value=value, when=when, line=line)
        if group:
            self.problem(
                path, where, f"{key} is a config group: list its options (categorical) or fix one"
            )
            return None
        if kind in ("int", "float"):
            return self._numeric(key, kind, raw, path, where, when, line)
        hint = did_you_mean(kind, ("categorical", "int", "float", "fixed"))
        self.problem(
            (*path, "type"),
            f"{where}.type",
            f"{kind!r} is not categorical, int, float or fixed{hint}",
        )
        return None

    def _numeric(
        self,
        key: str,
        kind: str,
        raw: Mapping[str, Any],
        path: tuple[str | int, ...],
        where: str,
        when: tuple[tuple[str, tuple[Any, ...]], ...],
        line: int,
    ) -> SpaceEntry | None:
        number: type | tuple[type, ...] = int if kind == "int" else (int, float)
        values = {}
        for bound in ("low", "high"):
            value = _number(raw.get(bound))
            if not _is_type(value, number):
                self.problem(
                    (*path, bound) if bound in raw else path,
                    f"{where}.{bound}",
                    f"{kind} needs {bound}: a number{' (integer)' if kind == 'int' else ''}"
                    + (f", got {raw.get(bound)!r}" if bound in raw else ""),
                )
                return None
            values[bound] = value
        low, high = values["low"], values["high"]
        step = _number(raw.get("step"))
        log = raw.get("log", False)
        ok = True
        if not isinstance(log, bool):
            self.problem((*path, "log"), f"{where}.log", f"{log!r} must be true or false")
            ok = False
        if not low < high:
            self.problem(path, where, f"low < high must hold, but got (low={low}, high={high})")
            ok = False
        if log and low <= 0:
            self.problem((*path, "low"), where, f"log: true needs low > 0, but got low={low}")
            ok = False
        if step is not None:
            if not _is_type(step, number) or step <= 0:
                self.problem((*path, "step"), f"{where}.step", f"{step!r} must be a number > 0")
                ok = False
            elif log:
                self.problem(
                    (*path, "step"), where, "step and log: true exclude each other (drop one)"
                )
                ok = False
        if not ok:
            return None
        return SpaceEntry(
            key,
            kind,
            low=low,
            high=high,
            step=step,
            log=bool(log),
            when=when,
            line=line,
        )

    def _when(
        self,
        raw: Any,
        path: tuple[str | int, ...],
        where: str,
        earlier: list[SpaceEntry],
    ) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, Mapping) or not raw:
            self.problem(
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
                self.problem(
                    (*path, "when", other),
                    f"{where}.when",
                    f"{other!r} must be a categorical or fixed entry above this one"
                    + (f" (above: {', '.join(above)})" if above else " (none above)"),
                )
                continue
            options = entry.choices if entry.kind == "categorical" else (entry.value,)
            for value in allowed_values:
                if value not in options:
                    self.problem(
                        (*path, "when", other),
                        f"{where}.when.{other}",
                        f"{value!r} is not one of {other}'s values "
                        f"({', '.join(map(str, options))})",
                    )
            conditions.append((str(other), allowed_values))
        return tuple(conditions)

    # --- across keys -------------------------------------------------------------------------
    def _cross_checks(
        self,
        objectives: list[Objective],
        space: list[SpaceEntry],
        sampler: Component,
        pruner: Component,
        n_trials: int | None,
    ) -> None:
        multi = len(objectives) > 1
        if (
            objectives
            and objectives[0].metric.startswith(names.EVAL_PREFIX)
            and pruner.name != "none"
        ):
            self.problem(
                ("pruner",),
                "pruner",
                f"{objectives[0].metric} is measured once, after training: a pruner needs a "
                "per-step curve (set pruner: none, or list val/acc first)",
            )
        if multi and pruner.name != "none":
            self.problem(
                ("pruner",),
                "pruner",
                f"{pruner.name} cannot prune a study with {len(objectives)} objectives "
                "(Optuna prunes single-objective studies only): set pruner: none",
            )
        searched = [e for e in space if e.searched]
        if space and not searched:
            self.problem(("space",), "space", "has only fixed values: nothing to search")
        if sampler.name == "cmaes":
            if multi:
                self.problem(
                    ("sampler",), "sampler", "cmaes handles one objective: use tpe or random"
                )
            if not any(e.kind in ("int", "float") for e in space):
                self.problem(
                    ("sampler",), "sampler", "cmaes needs int or float entries: use tpe or grid"
                )
        if sampler.name == "grid":
            for entry in searched:
                if entry.when:
                    self.problem(
                        ("space", entry.key, "when"),
                        f"space[{entry.key}]",
                        "grid cannot search conditional entries: use tpe or random, "
                        "or drop the condition",
                    )
                elif not entry.discrete():
                    self.problem(
                        ("space", entry.key),
                        f"space[{entry.key}]",
                        "grid needs discrete entries: give this float a step "
                        "(or use tpe or random)",
                    )
            if n_trials is not None and searched and all(e.discrete() for e in searched):
                size = 1
                for entry in searched:
                    size *= len(entry.grid_values())
                if n_trials > size:
                    self.problem(
                        ("n_trials",),
                        "n_trials",
                        f"{n_trials} exceeds the grid's {size} points: set n_trials <= {size}",
                    )

    def _enqueue(self, data: Mapping[str, Any], space: list[SpaceEntry]) -> list[dict[str, Any]]:
        raw = data.get("enqueue")
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(
                ("enqueue",), "enqueue", "must be a list of {key: value} trials to run first"
            )
            return []
        by_key = {e.key: e for e in space if e.searched}
        trials = []
        for index, item in enumerate(raw):
            path: tuple[str | int, ...] = ("enqueue", index)
            where = f"enqueue[{index}]"
            if not isinstance(item, Mapping) or not item:
                self.problem(path, where, "must be a non-empty mapping of space keys to values")
                continue
            ok = True
            item = {key: _number(value) for key, value in item.items()}
            for key, value in item.items():
                entry = by_key.get(key)
                if entry is None:
                    hint = did_you_mean(key, by_key)
                    self.problem((*path, key), f"{where}.{key}", f"not a searched space key{hint}")
                    ok = False
                elif not _in_range(entry, value):
                    self.problem(
                        (*path, key), f"{where}.{key}", f"{value!r} is outside {_describe(entry)}"
                    )
                    ok = False
            for key in item:
                entry = by_key.get(key)
                if entry is not None and entry.when and not entry.active(item):
                    self.problem(
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
    if not _is_type(value, (int, float)):
        return False
    if entry.kind == "int" and not isinstance(value, int):
        return False
    assert entry.low is not None and entry.high is not None
    return entry.low <= value <= entry.high


def _describe(entry: SpaceEntry) -> str:
    if entry.kind == "categorical":
        return "its choices (" + ", ".join(map(str, entry.choices)) + ")"
    return f"[{entry.low}, {entry.high}]"
