"""A study's base: the overrides every trial starts from, and the config they compose to.

Composed once per process (``launch``, ``resume``, a joining worker) and handed to the trial
runner; each trial then composes the base with its own overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import SpecError
from rmsweep.overrides import hydra_value

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.study._spec import StudySpec


def base_overrides(spec: StudySpec, overrides: Sequence[str], name: str) -> list[str]:
    """Every trial's overrides before its own: the spec's base, the command line's, and the
    study's MLflow experiment (one experiment per study, named after it)."""
    return [*spec.base, *overrides, f"experiment={hydra_value(name)}"]


def compose_base(overrides: Sequence[str], spec: StudySpec | None = None) -> DictConfig:
    """Every trial's base config; an ``eval/<bench>/…`` objective needs that bench's files."""
    from rmsweep.config import compose

    cfg = compose(list(overrides))
    if spec is None:
        return cfg
    for objective in spec.objectives:
        if objective.metric.startswith(names.EVAL_PREFIX):
            bench = objective.metric.split("/")[1]
            if cfg.eval[bench] is None:
                raise SpecError(
                    f"{spec.source}: objective {objective.metric} needs the {bench} files: "
                    f"add eval: {{{bench}: PATH}} to the spec or eval.{bench}=PATH to the command"
                )
    return cfg
