"""Stop signals: SIGTERM and SIGHUP take the Ctrl-C path; a second signal waits for cleanup.

``timeout``, Slurm and Kubernetes stop a process with SIGTERM, a closed terminal sends SIGHUP;
by default either ends Python at once, leaving its MLflow runs RUNNING and its jobs running.
Inside ``signals_as_interrupt`` they raise :class:`~rmsweep.errors.Interrupted` (a
KeyboardInterrupt) instead, so the code that stops jobs and ends runs on Ctrl-C runs for them.

Python runs a signal's handler wherever the main thread is; in a finalizer or a weakref
callback (garbage collection, e.g. SQLAlchemy's) the exception it raises is printed as
"ignored" and dropped, a Ctrl-C's ``KeyboardInterrupt`` as much as a stop signal's. Poll loops
call :func:`raise_if_stopped`, which raises it again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rmsweep.errors import Interrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_SIGINT_NAME = signal.SIGINT.name

_unhandled: list[str] = []  # signals (SIGINT too) received whose cleanup has not begun


def raise_if_stopped() -> None:
    """Raise ``Interrupted`` for a stop signal whose own exception was dropped (see above),
    ``KeyboardInterrupt`` for a dropped Ctrl-C.

    A no-op once the cleanup has begun (:func:`sigint_deferred`) or the signal's context ended.
    """
    if _unhandled:
        raise _exception_for(_unhandled[-1])


def _exception_for(name: str) -> KeyboardInterrupt:
    """What a signal raises: Ctrl-C's plain ``KeyboardInterrupt``, else ``Interrupted``."""
    return KeyboardInterrupt() if name == _SIGINT_NAME else Interrupted(name)


def _note_and_raise(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    _unhandled.append(name)
    raise _exception_for(name)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Interrupted`` in the main thread while inside; Ctrl-C
    raises ``KeyboardInterrupt`` as ever. Each is noted for :func:`raise_if_stopped`.

    A signal the process ignores (``nohup`` ignores SIGHUP), or a SIGINT handled by someone
    else's handler, is left alone. Outside the main thread this does nothing (Python delivers
    signals to the main thread only).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    previous = {}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, _note_and_raise)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _note_and_raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        _unhandled.clear()


@contextlib.contextmanager
def sigint_deferred(echo: Callable[[str], None]) -> Iterator[None]:
    """While running jobs are stopped, a second Ctrl-C only says to wait; stop signals are
    ignored until the cleanup is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _unhandled.clear()  # the cleanup has begun: the signal got where it had to
    previous = signal.signal(signal.SIGINT, lambda *_: echo("still stopping jobs; please wait"))
    previous_stop = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        for sig, handler in previous_stop.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
