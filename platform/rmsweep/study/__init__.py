"""Optuna studies over veRL training runs, recorded in MLflow.

A spec (``sweeps/*.yaml``) says what to search and how to score it; the controller samples
trials, runs each through a :class:`TrialRunner` (production: :class:`VerlTrialRunner`),
prunes from the validation curve it reads back from MLflow, and tells Optuna the outcome.

    from rmsweep.study import load_spec, launch_study
    outcome = launch_study(load_spec("sweeps/quickstart.yaml"))
"""

from __future__ import annotations

from rmsweep.study._check import SpaceCheck, check_space
from rmsweep.study._components import Component
from rmsweep.study._levels import Level, LevelTable, level_table
from rmsweep.study._lifecycle import (
    StudyOutcome,
    launch_study,
    open_study,
    resume_study,
    stored_spec,
)
from rmsweep.study._page import report_html
from rmsweep.study._runner import TrialHandle, TrialRunner, VerlTrialRunner
from rmsweep.study._space import SpaceEntry, corners, suggest, to_overrides
from rmsweep.study._spec import Objective, StudySpec
from rmsweep.study._summary import aggregate, state_counts, state_of, study_summary
from rmsweep.study._validate import load_spec, parse_spec

__all__ = [
    "Level",
    "LevelTable",
    "level_table",
    "report_html",
    "Component",
    "Objective",
    "SpaceCheck",
    "SpaceEntry",
    "StudyOutcome",
    "StudySpec",
    "TrialHandle",
    "TrialRunner",
    "VerlTrialRunner",
    "aggregate",
    "check_space",
    "corners",
    "launch_study",
    "load_spec",
    "open_study",
    "parse_spec",
    "resume_study",
    "state_counts",
    "state_of",
    "stored_spec",
    "study_summary",
    "suggest",
    "to_overrides",
]
