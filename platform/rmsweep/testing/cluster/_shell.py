"""Shell steps of building the cluster: run one, test one, wait for a service."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql")
READY_TIMEOUT_S = 120.0


def pg_bin() -> Path:
    versions = sorted(PG_BIN.glob("*/bin/postgres"))
    if not versions:
        raise FileNotFoundError(f"no PostgreSQL server under {PG_BIN} (apt-get install postgresql)")
    return versions[-1].parent


def sh(script: str) -> None:
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script}: {done.stderr.strip()[-2000:]}")


def sh_ok(script: str) -> bool:
    return subprocess.run(["sh", "-c", script], capture_output=True).returncode == 0


def wait(ready: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
