"""ThreadLauncher: sleep jobs as threads of this process, with ``RayLauncher``'s calls.

No subprocess and no Ray: for the controller's fast tests. It runs only the sleep job
(``python -m rmsweep.testing._sleep_job ...``, what ``SleepJobRunner`` submits), through
``_sleep_job.run_in_thread``: the same steps and MLflow records as the process, and a stop
that ends the job at once.
"""

from __future__ import annotations

import shlex
import threading
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from rmsweep import names
from rmsweep.errors import LaunchError
from rmsweep.testing import _sleep_job


@dataclass
class _ThreadJob:
    stopped: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lines: list[str] = field(default_factory=list)
    exit_code: int | None = None


class ThreadLauncher:
    """Runs each sleep job in a thread; ``stop`` ends it before its next step.

    Args:
        join_s: how long ``stop`` and ``close`` wait for a job's thread to return.
    """

    def __init__(self, *, join_s: float = 30.0) -> None:
        self.join_s = join_s
        self._jobs: dict[str, _ThreadJob] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ThreadLauncher:
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
        job_id = submission_id or f"thread-{uuid.uuid4().hex[:12]}"
        argv = shlex.split(entrypoint)
        if argv[1:3] != ["-m", _sleep_job.MODULE]:
            raise LaunchError(
                f"cannot submit job {job_id}: ThreadLauncher runs only "
                f"`python -m {_sleep_job.MODULE} ...`; use ProcessLauncher for {argv[:3]}"
            )
        missing = [k for k in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID") if k not in env]
        if missing and "--no-mlflow" not in argv:
            raise LaunchError(f"cannot submit job {job_id}: env lacks {', '.join(missing)}")
        job = _ThreadJob()
        with self._lock:
            if job_id in self._jobs:
                raise LaunchError(f"cannot submit job {job_id}: that id is taken")
            self._jobs[job_id] = job
        args = (job, argv[3:], dict(env))
        threading.Thread(target=self._run, args=args, name=job_id, daemon=True).start()
        return job_id

    def _run(self, job: _ThreadJob, argv: list[str], env: dict[str, str]) -> None:
        try:
            job.exit_code = _sleep_job.run_in_thread(
                argv, env=env, stopped=job.stopped, echo=job.lines.append
            )
        except Exception:
            job.lines.append(traceback.format_exc())
            job.exit_code = 1
        finally:
            job.done.set()

    def status(self, job_id: str) -> str:
        job = self._job(job_id)
        if not job.done.is_set():
            return names.JOB_RUNNING
        if job.stopped.is_set():
            return names.JOB_STOPPED
        return names.JOB_SUCCEEDED if job.exit_code == 0 else names.JOB_FAILED

    def stop(self, job_id: str) -> None:
        job = self._job(job_id)
        if job.done.is_set():
            return
        job.stopped.set()
        job.done.wait(self.join_s)

    def logs(self, job_id: str) -> str:
        return "".join(f"{line}\n" for line in self._job(job_id).lines)

    def close(self) -> None:
        """Stop every job still running."""
        with self._lock:
            jobs = list(self._jobs)
        for job_id in jobs:
            self.stop(job_id)

    def _job(self, job_id: str) -> _ThreadJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise LaunchError(f"unknown job {job_id!r}")
        return job
