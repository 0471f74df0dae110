"""RayLauncher: one training run = one Ray job, submitted through Ray's job submission API."""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import LaunchError
from rmsweep.launch._head import LocalHead
from rmsweep.signals import raise_if_stopped

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

ADDRESS_FORMS = (
    "http(s)://host:port (the dashboard, e.g. http://head:8265), "
    "ray://host:port (Ray Client), auto (a `ray start` cluster on this machine), "
    "host:port (the GCS)"
)
_STOP_WAIT_S = 60.0
STATUS_READ_ATTEMPTS = 5  # consecutive failed status reads before wait() gives up
# JobSubmissionClient always prefers these environment variables over its address argument;
# our address argument must win (the caller reads RAY_ADDRESS), so they are hidden while a
# client is built.
_OVERRIDING_ENV = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
_ENV_LOCK = threading.Lock()


class RayLauncher:
    """Submits, watches, stops and reads Ray jobs on one cluster.

    Args:
        address: the cluster. None starts a local Ray head on demand (at the first
            ``submit``), on free ports (never 6379), with its own temp dir and Ray auth token;
            it belongs to this launcher and ``close()`` stops its processes only. Otherwise one of
            ``http(s)://host:port`` (the dashboard; preferred), ``ray://host:port`` (a Ray
            Client address; one client connection finds the dashboard), ``auto`` (a cluster
            started with ``ray start`` on this machine) or ``host:port`` (a GCS address). The
            address is used as given: ``RAY_ADDRESS`` is read by the caller, not here.
        workdir: this launcher's folder: the local head's console log
            (``<workdir>/ray/*.log``) and the local jobs' working directory.
        num_cpus: CPUs a local head advertises (Ray detects them when None).
        num_gpus: GPUs a local head advertises (Ray detects them when None).
        object_store_memory: object store bytes of a local head (Ray's default when None).

    The launcher is a context manager; ``close()`` also runs at interpreter exit. Methods are
    safe to call from several threads (a sweep runs trials in parallel).

    Example::

        with RayLauncher(None, workdir=Path(".rmsweep")) as launcher:
            job_id = launcher.submit("python -c 'print(1)'", env={})
            assert launcher.wait(job_id) == "SUCCEEDED"
    """

    def __init__(
        self,
        address: str | None,
        *,
        workdir: Path,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        object_store_memory: int | None = None,
    ) -> None:
        if address is not None and not address.strip():
            raise LaunchError(f"empty Ray address; use None for a local Ray or {ADDRESS_FORMS}")
        self.address = address
        self.workdir = Path(workdir)
        self._head = (
            LocalHead(
                self.workdir,
                num_cpus=num_cpus,
                num_gpus=num_gpus,
                object_store_memory=object_store_memory,
            )
            if address is None
            else None
        )
        self._client_obj: JobSubmissionClient | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._atexit = _close_at_exit(self)
        atexit.register(self._atexit)

    # --- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> RayLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the local head this launcher started (if any); idempotent.

        Jobs still running on it end with it. A remote cluster is left alone.
        """
        with self._lock:
            self._closed = True
            self._client_obj = None
            if self._head is not None:
                self._head.stop()
        atexit.unregister(self._atexit)

    @property
    def dashboard_url(self) -> str | None:
        """The local head's dashboard (None before it starts, or for a remote cluster)."""
        return self._head.dashboard_url if self._head is not None and self._head.running else None

    @property
    def auth_token(self) -> str | None:
        """The local head's Ray auth token (its jobs have it as ``RAY_AUTH_TOKEN``)."""
        return self._head.auth_token if self._head is not None else None

    def owned_pids(self) -> list[int]:
        """Pids of the live processes of the local head this launcher started."""
        return self._head.pids() if self._head is not None else []

    def connect(self) -> str | None:
        """Reach the cluster now (a local head starts) and return its dashboard URL; None
        where the address is not one (``ray://``, a GCS address, ``auto``).

        Raises:
            LaunchError: the cluster cannot be reached.
        """
        self._client(start=True)
        if self._head is not None:
            return self._head.dashboard_url
        assert self.address is not None
        return self.address if self.address.startswith(("http://", "https://")) else None

    def start_in_background(self) -> None:
        """Begin starting the local head in a thread, so the caller's own work (recording the
        run) overlaps its seconds of start-up; the first ``submit`` waits for it and reports
        any failure. Does nothing for a remote cluster or a head already up."""
        if self._head is None or self._head.running:
            return
        threading.Thread(target=self._start_quietly, name="rmsweep-ray-head", daemon=True).start()

    def _start_quietly(self) -> None:
        try:
            self._client(start=True)
        except LaunchError:
            pass  # the next submit() tries again and raises it to its caller

    def _client(self, *, start: bool = False) -> JobSubmissionClient:
        with self._lock:
            if self._closed:
                raise LaunchError("this launcher is closed; create a new RayLauncher")
            if self._client_obj is None:
                if self._head is not None:
                    if not start:
                        raise LaunchError("no job was submitted: the local Ray is not started")
                    address = self._head.start()
                    headers = self._head.auth_headers()
                else:
                    assert self.address is not None
                    address, headers = self.address, {}
                self._client_obj = _connect(address, headers)
            return self._client_obj

    # --- jobs ----------------------------------------------------------------------------
    def submit(
        self,
        entrypoint: str,
        *,
        env: dict[str, str],
        submission_id: str | None = None,
        metadata: dict[str, str] | None = None,
        entrypoint_num_cpus: float | None = None,
        entrypoint_num_gpus: float | None = None,
        entrypoint_resources: dict[str, float] | None = None,
        working_dir: Path | None = None,
        excludes: list[str] | None = None,
    ) -> str:
        """Submit ``entrypoint`` (a shell command) as a Ray job and return its job id.

        Args:
            entrypoint: the job's command line, run by the cluster's job supervisor.
            env: environment variables for the job (its runtime_env ``env_vars``).
            submission_id: the job id to use (Ray makes one when None); must be new.
            metadata: string labels stored with the job.
            entrypoint_num_cpus: CPUs reserved for the entrypoint process itself.
            entrypoint_num_gpus: GPUs reserved for it (a trainer that is the job's process).
            entrypoint_resources: custom resources reserved for it (which nodes may run it).
            working_dir: a folder Ray uploads and runs the job in (its ``.gitignore`` and
                ``excludes`` left out); None: nothing is uploaded, the job sees the cluster's
                files at the paths given.
            excludes: paths of ``working_dir`` not uploaded.

        Returns:
            The job id (the submission id).

        Raises:
            LaunchError: the cluster cannot be reached or refused the job.
        """
        bad = sorted(k for k, v in env.items() if not isinstance(v, str))
        if bad:
            raise LaunchError(f"job env values must be strings; not for {', '.join(bad)}")
        client = self._client(start=True)
        runtime_env: dict[str, object] = {"env_vars": dict(env)}
        if working_dir is not None:
            runtime_env.update(working_dir=str(working_dir), excludes=list(excludes or []))
        try:
            return client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env=runtime_env,
                metadata=metadata,
                entrypoint_num_cpus=entrypoint_num_cpus,
                entrypoint_num_gpus=entrypoint_num_gpus,
                entrypoint_resources=entrypoint_resources,
            )
        except Exception as err:
            raise LaunchError(
                f"cannot submit job {submission_id or ''} to {self._where()}: {_one_line(err)}"
            ) from err

    def status(self, job_id: str) -> str:
        """The job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED.

        Raises:
            LaunchError: unknown job, or the cluster cannot be reached.
        """
        client = self._client()
        try:
            return str(client.get_job_status(job_id).value)
        except Exception as err:
            raise LaunchError(f"cannot read job {job_id} status: {_one_line(err)}") from err

    def details(self, job_id: str) -> tuple[str | None, str]:
        """Where the job's driver runs (its node's IP, None before it started) and Ray's
        message about it (e.g. why it failed: ``Job supervisor actor died: … node …``).

        Raises:
            LaunchError: unknown job, or the cluster cannot be reached.
        """
        client = self._client()
        try:
            info = client.get_job_info(job_id)
        except Exception as err:
            raise LaunchError(f"cannot read job {job_id}: {_one_line(err)}") from err
        agent = getattr(info, "driver_agent_http_address", None)
        node = agent.split("//")[-1].rsplit(":", 1)[0] if agent else None
        return node, str(info.message or "")

    def stop(self, job_id: str, *, timeout_s: float = _STOP_WAIT_S) -> None:
        """Stop the job; return once it is terminal or after ``timeout_s``. Idempotent.

        Ray sends SIGTERM to the job's process group, then SIGKILL after
        ``RAY_JOB_STOP_WAIT_TIME_S`` (3 s by default).
        """
        client = self._client()
        deadline = time.monotonic() + timeout_s
        try:
            client.stop_job(job_id)
        except Exception as err:
            raise LaunchError(f"cannot stop job {job_id}: {_one_line(err)}") from err
        while self.status(job_id) not in names.JOB_TERMINAL and time.monotonic() < deadline:
            time.sleep(0.1)

    def logs(self, job_id: str) -> str:
        """Everything the job's entrypoint wrote to stdout and stderr so far."""
        client = self._client()
        try:
            return client.get_job_logs(job_id)
        except Exception as err:
            raise LaunchError(f"cannot read job {job_id} logs: {_one_line(err)}") from err

    def wait(
        self,
        job_id: str,
        *,
        poll_s: float = 1.0,
        on_poll: Callable[[str], None] | None = None,
    ) -> str:
        """Block until the job is terminal and return its status.

        Args:
            job_id: the job.
            poll_s: seconds between status reads.
            on_poll: called with the status after every read (also the terminal one), e.g.
                to read metrics and stop a trial that should be pruned.

        Raises:
            KeyboardInterrupt: after stopping the job. Any exception from ``on_poll`` also
                stops the job before it propagates.
            LaunchError: the status could not be read ``STATUS_READ_ATTEMPTS`` times in a row
                (the job is left as it is: the cluster cannot be reached to stop it).
        """
        failures = 0
        try:
            while True:
                raise_if_stopped()
                try:
                    status = self.status(job_id)
                except LaunchError:
                    # A busy dashboard drops a request now and then; hours-long jobs must
                    # not be abandoned for one.
                    failures += 1
                    if failures >= STATUS_READ_ATTEMPTS:
                        raise
                    time.sleep(poll_s)
                    continue
                failures = 0
                if on_poll is not None:
                    on_poll(status)
                if status in names.JOB_TERMINAL:
                    return status
                time.sleep(poll_s)
        except LaunchError:
            raise
        except BaseException:
            self._stop_quietly(job_id)
            raise

    def _stop_quietly(self, job_id: str) -> None:
        try:
            self.stop(job_id)
        except LaunchError:
            pass

    def _where(self) -> str:
        return self.dashboard_url or self.address or "the local Ray"


def job_failure(message: str, node: str | None) -> str:
    """Why Ray failed a job, in one line: its node, when that died (``Job supervisor actor
    died: … The actor died because its node has died. …``), else Ray's first line."""
    lines = [part.strip() for part in message.splitlines() if part.strip()]
    if "its node has died" in message:
        return f"its node {node or '(unknown)'} was lost: {lines[-1]}"[:1000]
    where = f" (its driver ran on node {node})" if node else ""
    return f"{lines[0] if lines else 'Ray failed the job'}{where}"[:1000]


def _connect(address: str, headers: dict[str, str]) -> JobSubmissionClient:
    from ray.job_submission import JobSubmissionClient

    try:
        with _hidden_env(_OVERRIDING_ENV):
            # Empty headers: Ray adds its own token header where RAY_AUTH_MODE=token is set.
            return JobSubmissionClient(address, headers=headers or None)
    except Exception as err:
        raise LaunchError(
            f"cannot reach Ray at {address!r}: {_one_line(err)}; accepted addresses: "
            f"{ADDRESS_FORMS}"
        ) from err


@contextmanager
def _hidden_env(names: tuple[str, ...]) -> Iterator[None]:
    with _ENV_LOCK:
        saved = {n: os.environ.pop(n) for n in names if n in os.environ}
        try:
            yield
        finally:
            os.environ.update(saved)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _close_at_exit(launcher: RayLauncher) -> Callable[[], None]:
    ref = weakref.ref(launcher)  # atexit must not keep a dropped launcher alive

    def close() -> None:
        obj = ref()
        if obj is not None:
            obj.close()

    return close
