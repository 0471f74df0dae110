"""Scanning the environment while another thread changes it (MLflow's telemetry thread sets and
deletes ``_MLFLOW_TELEMETRY_SESSION_ID``): the scan reads a snapshot and never fails.

``os.environ.items()`` lists the keys, then reads each: a key deleted in between raises
KeyError. The test first shows that this happens here (so it can catch a regression), then
that ``env_secret_values`` and ``redact_secrets`` survive the same churn.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from rmsweep.tracking import env_secret_values, environ_snapshot, redact_secrets

CHURNED = "_RMSWEEP_TEST_TELEMETRY_SESSION_ID"
BUDGET_S = 3.0


@pytest.fixture
def churning_environment() -> Iterator[None]:
    """Another thread sets and deletes a variable as fast as it can; threads switch often."""
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            os.environ[CHURNED] = "x"
            del os.environ[CHURNED]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)


def _key_errors(scan: Callable[[], object], *, until_first: bool) -> tuple[int, int]:
    """(scans, KeyErrors) within the budget."""
    scans = errors = 0
    deadline = time.monotonic() + BUDGET_S
    while time.monotonic() < deadline:
        scans += 1
        try:
            scan()
        except KeyError:
            errors += 1
            if until_first:
                break
    return scans, errors


def test_iterating_os_environ_races_with_a_thread_that_changes_it(churning_environment) -> None:
    _, errors = _key_errors(lambda: dict(os.environ.items()), until_first=True)
    assert errors == 1  # the hazard is real here: the next test would notice a regression


def test_the_secret_scan_reads_a_snapshot(churning_environment, monkeypatch) -> None:
    monkeypatch.setenv("RMSWEEP_TEST_API_TOKEN", "s3cr3t-value")

    def scan() -> None:
        assert "s3cr3t-value" in env_secret_values()
        assert redact_secrets("token=s3cr3t-value") == "token=***"

    scans, errors = _key_errors(scan, until_first=False)
    assert scans > 100 and errors == 0


def test_a_snapshot_is_a_plain_copy(monkeypatch) -> None:
    monkeypatch.setenv("RMSWEEP_TEST_SNAPSHOT", "1")
    snapshot = environ_snapshot()
    assert type(snapshot) is dict and snapshot["RMSWEEP_TEST_SNAPSHOT"] == "1"
    os.environ["RMSWEEP_TEST_SNAPSHOT"] = "2"
    assert snapshot["RMSWEEP_TEST_SNAPSHOT"] == "1"
