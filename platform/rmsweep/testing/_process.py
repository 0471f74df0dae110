"""ProcessLauncher: each job a local subprocess, with ``RayLauncher``'s calls; no Ray."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path

from rmsweep import names
from rmsweep.errors import LaunchError


class ProcessLauncher:
    """Runs each job as a local subprocess, with ``RayLauncher``'s calls; no Ray.

    For controller tests and benchmarks where a Ray head's start-up would dominate. Jobs run
    in their own session (a terminal's Ctrl-C reaches the controller, which stops them);
    ``stop`` sends SIGTERM to the job's process group, then SIGKILL after ``grace_s``.
    """

    def __init__(self, workdir: Path, *, grace_s: float = 5.0) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.grace_s = grace_s
        self._jobs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopped: set[str] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> ProcessLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self,
        entrypoint: str,
        *,
        env: Mapping[str, str],
        submission_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        job_id = submission_id or f"proc-{uuid.uuid4().hex[:12]}"
        with self._lock:
            if job_id in self._jobs:
                raise LaunchError(f"cannot submit job {job_id}: that id is taken")
        log = open(self.workdir / f"{job_id}.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            proc = subprocess.Popen(
                shlex.split(entrypoint),
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as err:
            raise LaunchError(f"cannot start job {job_id}: {err}") from err
        finally:
            log.close()
        with self._lock:
            self._jobs[job_id] = proc
        return job_id

    def status(self, job_id: str) -> str:
        proc = self._job(job_id)
        code = proc.poll()
        if code is None:
            return names.JOB_RUNNING
        if job_id in self._stopped:
            return names.JOB_STOPPED
        return names.JOB_SUCCEEDED if code == 0 else names.JOB_FAILED

    def stop(self, job_id: str) -> None:
        proc = self._job(job_id)
        if proc.poll() is not None:
            return
        self._stopped.add(job_id)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()

    def logs(self, job_id: str) -> str:
        self._job(job_id)
        return (self.workdir / f"{job_id}.log").read_text(errors="replace")

    def close(self) -> None:
        """Stop every job still running."""
        with self._lock:
            jobs = list(self._jobs)
        for job_id in jobs:
            self.stop(job_id)

    def _job(self, job_id: str) -> subprocess.Popen[bytes]:
        with self._lock:
            proc = self._jobs.get(job_id)
        if proc is None:
            raise LaunchError(f"unknown job {job_id!r}")
        return proc
