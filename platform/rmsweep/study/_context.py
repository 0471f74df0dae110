"""What a controller process works on (its study) and what it reports (outcomes, events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from rmsweep.study._spec import StudySpec


@dataclass
class StudyContext:
    """Everything one controller process needs about its study."""

    name: str
    spec: StudySpec
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    storage_url: str
    mlflow: MlflowClient
    parent_run_id: str
    data_source: str
    base_seed: int = 0  # the base config's seed: replicate i of a configuration runs seed + i


@dataclass
class Event:
    """A moment in a trial's life, for the overhead benchmark (``time.time()`` seconds)."""

    trial: int
    kind: str  # claimed | started | adopted | running | ended | told
    at: float


@dataclass
class LoopResult:
    """What this controller did: its trials' outcomes and the timing events."""

    outcomes: dict[int, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    adopted: list[int] = field(default_factory=list)  # trials taken over from dead controllers
    interrupted: bool = False
    timed_out: bool = False
