"""A stop signal whose exception Python dropped still stops the command.

Python runs a signal handler wherever the main thread is. Raised in a finalizer or weakref
callback (garbage collection; CI once caught SQLAlchemy's), the ``Interrupted`` is printed as
"ignored" and dropped, and ``run train`` kept waiting on its job after SIGTERM; a Ctrl-C's
``KeyboardInterrupt`` is dropped the same way. The signal is real here
(``signal.raise_signal``), delivered inside a real finalizer.
"""

from __future__ import annotations

import signal
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from rmsweep.errors import Interrupted
from rmsweep.launch._launcher import RayLauncher
from rmsweep.signals import raise_if_stopped, sigint_deferred, signals_as_interrupt


class Payload:
    pass


@pytest.fixture(autouse=True)
def _python_handles_ctrl_c() -> Iterator[None]:
    """Ctrl-C as in a command started from a terminal (a test runner may have changed it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _signal_inside_a_finalizer(
    monkeypatch: pytest.MonkeyPatch, sig: signal.Signals = signal.SIGTERM
) -> list[Any]:
    """``sig`` arrives while a finalizer runs; returns what Python reported as dropped."""
    dropped: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)

    def finalizer() -> None:
        signal.raise_signal(sig)
        for _ in range(10_000):  # the handler runs at the next check, inside this frame
            pass

    obj = Payload()
    weakref.finalize(obj, finalizer)
    del obj
    return dropped


def test_a_stop_signal_dropped_in_a_finalizer_is_raised_at_the_next_check(monkeypatch) -> None:
    with signals_as_interrupt():
        dropped = _signal_inside_a_finalizer(monkeypatch)
        assert [type(d.exc_value) for d in dropped] == [Interrupted]  # Python dropped it
        with pytest.raises(Interrupted, match="SIGTERM"):
            raise_if_stopped()
    raise_if_stopped()  # outside the context: nothing is pending


def test_a_ctrl_c_dropped_in_a_finalizer_is_raised_at_the_next_check(monkeypatch) -> None:
    with signals_as_interrupt():
        dropped = _signal_inside_a_finalizer(monkeypatch, signal.SIGINT)
        assert [type(d.exc_value) for d in dropped] == [KeyboardInterrupt]  # Python dropped it
        with pytest.raises(KeyboardInterrupt) as raised:
            raise_if_stopped()
        assert type(raised.value) is KeyboardInterrupt  # what Ctrl-C always raised
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    raise_if_stopped()


def test_a_ctrl_c_handler_of_someone_elses_is_left_alone() -> None:
    def theirs(signum: int, frame: Any) -> None:
        pass

    signal.signal(signal.SIGINT, theirs)
    with signals_as_interrupt():
        assert signal.getsignal(signal.SIGINT) is theirs
    assert signal.getsignal(signal.SIGINT) is theirs


def test_once_the_cleanup_begins_the_signal_counts_as_handled(monkeypatch) -> None:
    with signals_as_interrupt():
        _signal_inside_a_finalizer(monkeypatch)
        with sigint_deferred(print):
            raise_if_stopped()  # the cleanup polls too: it must not be interrupted again


class RunningJobs:
    """The part of a launcher ``RayLauncher.wait`` uses: a job still running after 100 polls."""

    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.polls = 0

    def status(self, job_id: str) -> str:
        self.polls += 1
        assert self.polls < 100, "the wait never noticed the signal"
        return "RUNNING"

    def _stop_quietly(self, job_id: str) -> None:
        self.stopped.append(job_id)


@pytest.mark.parametrize(
    ("sig", "raised"),
    [(signal.SIGTERM, Interrupted), (signal.SIGINT, KeyboardInterrupt)],
    ids=["SIGTERM", "SIGINT"],
)
def test_the_launchers_wait_stops_the_job_for_a_dropped_signal(monkeypatch, sig, raised) -> None:
    jobs = RunningJobs()
    with signals_as_interrupt():
        _signal_inside_a_finalizer(monkeypatch, sig)
        with pytest.raises(raised):
            RayLauncher.wait(jobs, "job-1", poll_s=0.01)  # type: ignore[arg-type]
    assert jobs.stopped == ["job-1"]
