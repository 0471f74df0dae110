"""A study's configurations checked by veRL before any trial runs: each corner of its space
(every choice, each range's two ends) composed as its trial would be, then
:func:`rmsweep.verl_check.check`. ``study validate`` and ``study launch --check`` run it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rmsweep.errors import ConfigError, SpecError
from rmsweep.study._base import base_overrides
from rmsweep.study._space import corners, to_overrides
from rmsweep.study._spec import StudySpec
from rmsweep.verl_check import JobPlan, check

SHOWN = 5  # refusals printed; the rest are counted


@dataclass(frozen=True)
class SpaceCheck:
    """What veRL said of a study's corners."""

    corners: int
    values: dict[str, Any]  # the corner needing the most memory per GPU (the first if unknown)
    plans: list[JobPlan]  # that corner's job, stage by stage


def check_space(spec: StudySpec, overrides: Sequence[str] = ()) -> SpaceCheck:
    """Compose every corner of ``spec``'s space (its base and ``overrides`` first) and have
    veRL validate it.

    Raises:
        SpecError: one line per distinct refusal, naming the spec and the corner's values.
    """
    from rmsweep.config import compose

    base = base_overrides(spec, overrides, spec.name)
    problems: dict[str, str] = {}
    tightest: tuple[float, dict[str, Any], list[JobPlan]] | None = None
    points = corners(spec.space)
    for values in points:
        try:
            plans = check(compose([*base, *to_overrides(spec.space, values)]))
        except ConfigError as err:
            problems.setdefault(str(err), f"{spec.source}: trial values {_shown(values)}: {err}")
            continue
        memory = max(plan.memory_gib for plan in plans)
        if tightest is None or memory > tightest[0]:
            tightest = (memory, values, plans)
    if problems or tightest is None:
        shown = list(problems.values())
        more = f"\n… and {len(shown) - SHOWN} more" if len(shown) > SHOWN else ""
        raise SpecError("\n".join(shown[:SHOWN]) + more)
    return SpaceCheck(corners=len(points), values=tightest[1], plans=tightest[2])


def _shown(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items()) or "(the base)"
