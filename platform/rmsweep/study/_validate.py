"""Spec validation: parse a sweep YAML with line numbers and collect every problem.

Each message reads ``file:line: where: what (how to fix)``; :func:`parse_spec` raises one
SpecError holding all of them, one per line. The checks live by what they check: top-level
keys (``_spec_checks``), the space and enqueued trials (``_space_checks``), the sampler and
pruner (``_components``), the config tree (``_config_checks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmsweep.errors import SpecError
from rmsweep.study._components import check_pruner_fits, check_sampler_fits, read_component
from rmsweep.study._config_checks import ConfigChecks
from rmsweep.study._space_checks import check_space_searches, read_enqueue, read_space
from rmsweep.study._spec import StudySpec
from rmsweep.study._spec_checks import (
    check_top_keys,
    read_base,
    read_bool,
    read_description,
    read_eval,
    read_int,
    read_name,
    read_objectives,
    read_parallel,
    read_storage,
    read_timeout,
)
from rmsweep.study._yamllines import Problems, load_located


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
    problems = Problems(doc, source)
    data = doc.data
    if not isinstance(data, Mapping):
        problems((), "spec", "must be a mapping of keys (name, objective, space, …)")
        raise SpecError(problems.report())
    spec = _build(data, text, problems, base_dir or Path.cwd(), check_config=check_config)
    if problems or spec is None:
        raise SpecError(problems.report())
    return spec


def _build(
    data: Mapping[str, Any],
    text: str,
    problems: Problems,
    base_dir: Path,
    *,
    check_config: bool,
) -> StudySpec | None:
    """The spec ``data`` describes; None when ``problems`` has found something wrong."""
    check_top_keys(data, problems)
    name = read_name(data, problems)
    base = read_base(data, problems)
    if base is not None:
        base = base + read_eval(data, problems, base_dir)
    objectives = read_objectives(data, problems)
    space = read_space(data, problems)
    sampler = read_component("sampler", data.get("sampler"), problems)
    pruner = read_component("pruner", data.get("pruner"), problems)
    n_trials = read_int(data, "n_trials", None, problems, minimum=1)
    retries = read_int(data, "retries", 0, problems, minimum=0)
    replicates = read_int(data, "replicates", 1, problems, minimum=1) or 1
    seed = read_int(data, "seed", None, problems, minimum=0)
    timeout_s = read_timeout(data, problems)
    parallel = read_parallel(data, problems)
    storage = read_storage(data, problems)
    description = read_description(data, problems)
    reuse = read_bool(data, "reuse", True, problems)
    check_pruner_fits(pruner, [o.metric for o in objectives], problems)
    check_space_searches(space, problems)
    check_sampler_fits(sampler, len(objectives), space, n_trials, problems)
    enqueue = read_enqueue(data, space, problems)
    seeds = f" ({replicates} seeds each)" if replicates > 1 else ""
    if n_trials is not None and len(enqueue) * replicates > n_trials:
        problems(
            ("enqueue",),
            "enqueue",
            f"lists {len(enqueue)} trials{seeds} but n_trials is {n_trials}: "
            "raise n_trials or drop some",
        )
    if replicates > 1 and any(entry.key == "seed" for entry in space):
        problems(("replicates",), "replicates", "seeds are replicated: drop seed from the space")
    if n_trials is not None and n_trials % replicates:
        problems(
            ("n_trials",),
            "n_trials",
            f"{n_trials} is not a multiple of replicates ({replicates}): every configuration "
            "runs all its seeds",
        )
    if check_config and base is not None and space:
        ConfigChecks(problems, base).run(space)
    if problems:
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
        replicates=replicates,
        seed=seed,
        storage=storage,
        enqueue=tuple(enqueue),
        description=description,
        reuse=reuse,
        source=problems.source,
        text=text,
    )
