"""Heartbeats: a thread that tells the Optuna storage this process's running trials are alive.

A trial whose heartbeats stop for ``GRACE_S`` is adopted by any other worker of the study
(``_adopt``: it takes over the heartbeat and drives the trial's job); Optuna's stale check,
which fails and re-queues it (``_storage.open_storage``), is the backstop.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

from rmsweep.study._storage import HEARTBEAT_S

if TYPE_CHECKING:
    import optuna


class Heartbeats:
    """A thread that tells the storage every running trial of this process is alive."""

    def __init__(self, storage: optuna.storages.RDBStorage) -> None:
        self.storage = storage
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.add(trial_id)
        self._beat(trial_id)

    def discard(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.discard(trial_id)

    def start(self) -> None:
        self.stopped.clear()
        self.thread = threading.Thread(target=self._run, name="rmsweep-heartbeats", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def _run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            with self.lock:
                ids = list(self.trial_ids)
            for trial_id in ids:
                self._beat(trial_id)

    def _beat(self, trial_id: int) -> None:
        with contextlib.suppress(Exception):  # a missed beat is retried; the grace is long
            self.storage.record_heartbeat(trial_id)
