"""Run ``ray start --block`` and clean up after it when this process's stdin closes.

Usage: ``python _guard.py TEMP_DIR CMD...``. The launcher starts the local Ray head through
this guard with a pipe on stdin. The pipe closes when the launcher lets go of the head
(``close()``) or when the launcher's process dies for any reason, SIGKILL included. The guard
then kills the command and every process that carries ``RMSWEEP_RAY_HEAD=<basename of
TEMP_DIR>`` in its environment (Ray's daemons, workers, job supervisors and job drivers, and
any Ray a job started inside itself), and removes TEMP_DIR. It imports nothing from rmsweep,
so it starts in milliseconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

OWNER_ENV = "RMSWEEP_RAY_HEAD"  # same name as rmsweep.launch._head.OWNER_ENV


def _stop(child: subprocess.Popen[bytes], token: str) -> None:
    """End the head at once: SIGKILL ``ray start`` and every process marked as the head's.

    Nothing in a local head needs a graceful end (its state lives in memory; its owner has
    read what it wanted), and Ray's own graceful stop takes seconds: it stops its daemons one
    at a time, each with a second's grace. ``sweep`` still runs after, for stragglers.
    """
    # Ray's agents retitle themselves over their environment, so the marker alone misses them;
    # the tree under `ray start` is read before any kill (orphans move to init and are lost).
    for pid in [child.pid, *descendants(child.pid), *marked_pids(token)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(root: int) -> list[int]:
    """Pids of every live descendant of ``root``, from ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        kids = children.get(stack.pop(), [])
        found += kids
        stack += kids
    return found


def marked_pids(token: str) -> list[int]:
    """Pids (other than ours) whose environment has ``RMSWEEP_RAY_HEAD=token``."""
    needle = f"{OWNER_ENV}={token}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:  # gone, or not ours to read
            continue
    return found


def sweep(token: str, patience_s: float = 5.0) -> None:
    """SIGKILL every process marked with ``token`` until none is left (or ``patience_s``)."""
    deadline = time.monotonic() + patience_s
    pids = marked_pids(token)
    while pids:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
        pids = marked_pids(token)


def main(temp_dir: str, argv: list[str]) -> int:
    """Run ``argv`` until it exits or stdin closes, then sweep and remove ``temp_dir``."""
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    token = os.path.basename(temp_dir.rstrip("/"))

    def watch_stdin() -> None:
        try:
            while os.read(0, 4096):  # raw reads: no buffered-stdin lock at shutdown
                pass
        except OSError:
            pass
        _stop(child, token)

    threading.Thread(target=watch_stdin, daemon=True).start()
    signal.signal(
        signal.SIGTERM, lambda *_: threading.Thread(target=_stop, args=(child, token)).start()
    )
    code = child.wait()
    sweep(token)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return code


if __name__ == "__main__":
    status = main(sys.argv[1], sys.argv[2:])
    sys.stdout.flush()
    os._exit(status if status >= 0 else 128 - status)  # no wait for the stdin thread
