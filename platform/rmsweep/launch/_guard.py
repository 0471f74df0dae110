"""Run ``ray start --block`` and clean up after it when this process's stdin closes.

Usage: ``python _guard.py TEMP_DIR CMD...``. The launcher starts the local Ray head through
this guard with a pipe on stdin. The pipe closes when the launcher lets go of the head
(``close()``) or when the launcher's process dies for any reason, SIGKILL included. The guard
then sends SIGTERM to the command, and once it has exited, ends every process that still
carries ``RMSWEEP_RAY_HEAD=<basename of TEMP_DIR>`` in its environment (Ray leaves agents and
job drivers behind when its head is torn down fast) and removes TEMP_DIR. It imports nothing
from rmsweep, so it starts in milliseconds.
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
_GRACE_S = 30.0


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()


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


def sweep(token: str) -> None:
    """SIGTERM, then SIGKILL, every process marked with ``token``."""
    for sig, patience_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        pids = marked_pids(token)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + patience_s
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = marked_pids(token)
        if not pids:
            return


def main(temp_dir: str, argv: list[str]) -> int:
    """Run ``argv`` until it exits or stdin closes, then sweep and remove ``temp_dir``."""
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)

    def watch_stdin() -> None:
        try:
            while os.read(0, 4096):  # raw reads: no buffered-stdin lock at shutdown
                pass
        except OSError:
            pass
        _stop(child)

    threading.Thread(target=watch_stdin, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=_stop, args=(child,)).start())
    code = child.wait()
    sweep(os.path.basename(temp_dir.rstrip("/")))
    shutil.rmtree(temp_dir, ignore_errors=True)
    return code


if __name__ == "__main__":
    status = main(sys.argv[1], sys.argv[2:])
    sys.stdout.flush()
    os._exit(status if status >= 0 else 128 - status)  # no wait for the stdin thread
