"""sweeps/*.yaml → a validated :class:`StudySpec`, every problem reported at once.

A spec is written without Python::

    name: quickstart
    base: [device=cpu, trainer.total_steps=10]       # Hydra overrides for every trial
    objective:                                        # one or more; short metric names
      - {metric: val/acc, direction: maximize, aggregate: last}
    space:
      reward: [linear, exponential, exact]            # a Hydra group: its options
      reward.k: {type: float, low: 1.0, high: 8.0, log: true, when: {reward: exponential}}
      trainer.lr: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
      seed: 0                                         # fixed value
    sampler: {name: tpe, multivariate: true, constant_liar: true}
    pruner: {name: median, n_startup_trials: 2}
    n_trials: 6
    parallel: auto            # slots: free GPUs ÷ GPUs per trial (1 on cpu)
    retries: 1                # re-runs of a trial whose job failed
    replicates: 1             # seeds per configuration (n_trials counts them all)
    timeout: 20m              # no new trial after this (running ones finish)
    reuse: true               # an identical config's finished result is told, not re-trained
    seed: 0

Checks that need the config tree (space keys exist, options compose with the base) run when
``check_config`` is true; every message is ``file:line: where: what (how to fix)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from rmsweep import names
from rmsweep.study._components import Component
from rmsweep.study._space import SpaceEntry

TOP_KEYS = (
    "name",
    "description",
    "base",
    "objective",
    "space",
    "sampler",
    "pruner",
    "n_trials",
    "timeout",
    "parallel",
    "retries",
    "replicates",
    "seed",
    "storage",
    "enqueue",
    "eval",
    "reuse",
)
DIRECTIONS = ("maximize", "minimize")
AGGREGATES = ("last", "best")


@dataclass(frozen=True)
class Objective:
    """One objective: a short metric name, its direction and which value of its curve counts."""

    metric: str
    direction: str = "maximize"
    aggregate: str = "last"

    def key(self, data_source: str) -> str:
        """The MLflow key veRL logs this metric under for ``data_source``."""
        return names.metric_key(self.metric, data_source)


@dataclass(frozen=True)
class StudySpec:
    """A validated sweep spec. ``text`` is the file as written (kept with the study)."""

    name: str
    base: tuple[str, ...]
    objectives: tuple[Objective, ...]
    space: tuple[SpaceEntry, ...]
    sampler: Component
    pruner: Component
    n_trials: int
    timeout_s: float | None = None
    parallel: int | None = None  # None: derived from the cluster
    retries: int = 0
    # Each configuration runs with this many seeds (base seed + 0, 1, …), as sibling trials.
    replicates: int = 1
    seed: int | None = None
    storage: str | None = None
    enqueue: tuple[dict[str, Any], ...] = ()
    description: str = ""
    reuse: bool = True  # tell a finished identical config's value instead of training it again
    source: str = "<spec>"
    text: str = ""

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        # Checked against DIRECTIONS when the spec was read.
        return [cast(Literal["maximize", "minimize"], o.direction) for o in self.objectives]

    @property
    def prunes(self) -> bool:
        return self.pruner.name != "none"
