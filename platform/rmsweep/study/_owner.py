"""Which controller drives a trial, and whether it is still alive.

A controller writes its token (``host:pid:start time``) on each trial it drives
(``names.ATTR_CONTROLLER``). Another controller on the same host can tell at once that the
token's process is gone (a SIGKILL leaves no trace otherwise); for one on another host only
the trial's heartbeat can say so, after the grace period.
"""

from __future__ import annotations

import functools
import os
import socket


@functools.cache
def my_token() -> str:
    """This process's token."""
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid()):.2f}"


def is_dead(token: str | None) -> bool:
    """True when ``token`` names a process of this host that no longer runs (False when it
    runs, or lives elsewhere, or no token was written: then only a stale heartbeat tells)."""
    if not token:
        return False
    parts = token.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    import psutil

    try:
        proc = psutil.Process(int(parts[1]))
        if abs(proc.create_time() - float(parts[2])) > 0.05:
            return True  # the pid was reused by another process
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except (psutil.Error, ValueError):
        return True


def _started(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())
