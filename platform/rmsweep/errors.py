"""The error hierarchy. Every user-facing failure is one of these, with a one-line message
that names the value at fault and the way out."""

from __future__ import annotations


class RmsweepError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits non-zero."""

    exit_code = 2


class ConfigError(RmsweepError):
    """A bad override, config key or value (names the key)."""


class DataError(RmsweepError):
    """A bad input file or row (names the file and line)."""


class SpecError(RmsweepError):
    """A bad sweep spec (names the file, line and key)."""


class LaunchError(RmsweepError):
    """A Ray job could not be started, or ended badly."""

    exit_code = 1


class StudyInterrupted(LaunchError):
    """Ctrl-C (or SIGTERM) stopped a study's controller after it killed its running trials."""

    exit_code = 130


class StorageError(RmsweepError):
    """An Optuna storage or MLflow tracking store cannot be reached or used (names its URL,
    password hidden)."""

    exit_code = 1


class CheckpointError(RmsweepError):
    """A run's trained model cannot be found or was not saved (names the run or folder)."""


class EvalError(RmsweepError):
    """An evaluation cannot run as asked (names the model, benchmark or option)."""


class ReproduceError(RmsweepError):
    """A recorded run cannot be reproduced as asked (names what differs)."""


class Interrupted(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) taking the Ctrl-C path: jobs stopped, runs KILLED."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name

    @property
    def reason(self) -> str:
        """What a run killed by it records (tag ``rmsweep.reason``)."""
        return (
            "stopped by Ctrl-C"
            if self.signal_name == "SIGINT"
            else f"stopped by {self.signal_name}"
        )
