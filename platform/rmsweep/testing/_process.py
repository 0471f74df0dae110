"""ProcessLauncher: each job a local subprocess, with ``RayLauncher``'s calls; no Ray.

Jobs outlive the launcher that started them, as Ray jobs outlive their submitter: each job
leaves ``<workdir>/<job id>.job.json`` (its pid, start time and run), and its wrapper
(``_process_job``) writes ``<job id>.exit``. Another process's launcher on the same workdir
reads, stops and logs those jobs too (a controller that adopts a dead controller's trials).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from rmsweep import names
from rmsweep.errors import LaunchError
from rmsweep.tracking._secrets import environ_snapshot

WRAPPER = "rmsweep.testing._process_job"


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
            if job_id in self._jobs or self._file(job_id, "job.json").exists():
                raise LaunchError(f"cannot submit job {job_id}: that id is taken")
        command = [sys.executable, "-m", WRAPPER, str(self._file(job_id, "exit"))]
        log = open(self._file(job_id, "log"), "wb")  # noqa: SIM115 - the child owns it
        try:
            proc = subprocess.Popen(
                [*command, *shlex.split(entrypoint)],
                env={**environ_snapshot(), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as err:
            raise LaunchError(f"cannot start job {job_id}: {err}") from err
        finally:
            log.close()
        started = _start_time(proc.pid)
        record = {"pid": proc.pid, "started": started, "run_id": env.get("MLFLOW_RUN_ID")}
        _write_atomic(self._file(job_id, "job.json"), json.dumps(record))
        with self._lock:
            self._jobs[job_id] = proc
        return job_id

    def status(self, job_id: str) -> str:
        proc = self._own(job_id)
        if proc is not None:
            code = proc.poll()
        else:
            code = None if self._alive(job_id) else self._exit_code(job_id)
        if code is None:
            return names.JOB_RUNNING
        if self._file(job_id, "stopped").exists():
            return names.JOB_STOPPED
        return names.JOB_SUCCEEDED if code == 0 else names.JOB_FAILED

    def stop(self, job_id: str) -> None:
        proc = self._own(job_id)
        if proc is None:  # another launcher's job: signal its group, wait for it to go
            if self._alive(job_id):
                self._file(job_id, "stopped").touch()
                self._signal(job_id, signal.SIGTERM)
                deadline = time.monotonic() + self.grace_s
                while self._alive(job_id) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self._alive(job_id):
                    self._signal(job_id, signal.SIGKILL)
            return
        if proc.poll() is not None:
            return
        self._file(job_id, "stopped").touch()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()

    def logs(self, job_id: str) -> str:
        self._record(job_id)
        return self._file(job_id, "log").read_text(errors="replace")

    def close(self) -> None:
        """Stop every job this launcher started that still runs."""
        with self._lock:
            jobs = list(self._jobs)
        for job_id in jobs:
            self.stop(job_id)

    def job_ids(self) -> list[str]:
        """Every job started on this workdir, by any launcher (oldest first)."""
        files = sorted(self.workdir.glob("*.job.json"), key=lambda p: p.stat().st_mtime)
        return [p.name.removesuffix(".job.json") for p in files]

    def pid(self, job_id: str) -> int:
        """The job's process-group leader (its wrapper)."""
        return int(str(self._record(job_id)["pid"]))

    # --- the files a job leaves ---------------------------------------------------------------
    def _file(self, job_id: str, suffix: str) -> Path:
        return self.workdir / f"{job_id}.{suffix}"

    def _own(self, job_id: str) -> subprocess.Popen[bytes] | None:
        with self._lock:
            proc = self._jobs.get(job_id)
        if proc is None:
            self._record(job_id)  # raises for a job no launcher started here
        return proc

    def _record(self, job_id: str) -> dict[str, object]:
        try:
            return dict(json.loads(self._file(job_id, "job.json").read_text()))
        except (OSError, ValueError):
            raise LaunchError(f"unknown job {job_id!r} (no record in {self.workdir})") from None

    def _alive(self, job_id: str) -> bool:
        import psutil

        record = self._record(job_id)
        try:
            proc = psutil.Process(int(str(record["pid"])))
            same = abs(proc.create_time() - float(str(record["started"]))) < 0.5
            return same and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def _exit_code(self, job_id: str) -> int:
        try:
            return int(self._file(job_id, "exit").read_text().strip())
        except (OSError, ValueError):
            return -int(signal.SIGKILL)  # the wrapper was killed with its job: no code left

    def _signal(self, job_id: str, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid(job_id), sig)
        except (ProcessLookupError, PermissionError):
            pass


def _start_time(pid: int) -> float:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
