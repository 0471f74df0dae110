"""A local Ray head that belongs to the process that started it.

``ray start --head --block`` runs under a small guard (``_guard.py``) whose stdin is a pipe
from us: closing the pipe, or our process dying, makes the guard stop the head. Every process
of the head carries ``RMSWEEP_RAY_HEAD=<token>`` in its environment (Ray passes its
environment down to raylet, workers, job supervisors and job drivers), so ``stop()`` can find
and end exactly our processes and nothing else: no global ``ray stop``.

Nothing of the head listens beyond loopback (:data:`LOOPBACK_ENV`), and Ray's token auth, with
a token of the head's own, guards it against other local users.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from rmsweep.errors import LaunchError
from rmsweep.tracking._secrets import environ_snapshot

if TYPE_CHECKING:
    import psutil

OWNER_ENV = "RMSWEEP_RAY_HEAD"
_GUARD = Path(__file__).with_name("_guard.py")
_REDIS_PORT = 6379  # Redis listens there on this kind of machine; Ray's default port too
_START_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 30.0
_ATTEMPTS = 3
_PORT_CLASH = ("already in use", "already occupied", "failed to bind", "eaddrinuse")
# Ray (2.60) replaces a loopback --node-ip-address with the machine's address
# (services.resolve_ip_for_localhost), and then GCS, raylet, agents, job supervisors and
# workers bind every interface, unless multi-node clusters are switched off
# (ray_constants.ENABLE_RAY_CLUSTER, off by default on Windows and macOS): the node IP is then
# 127.0.0.1 and everything binds it. The head's environment reaches every process it starts,
# job drivers included, so a Ray a job starts inside itself binds 127.0.0.1 as well. A
# single-node Ray loses nothing: only joining it (`ray start --address`) is refused. "off", not
# "0": a Hydra override of it (ray_init.runtime_env.env_vars) stays a string.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "off"}


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports nobody listens on right now, never 6379."""
    ports: set[int] = set()
    while len(ports) < n:
        with socket.socket() as sock:
            sock.bind(("", 0))
            port = sock.getsockname()[1]
        if port != _REDIS_PORT:
            ports.add(port)
    return sorted(ports)


class LocalHead:
    """One ``ray start --head`` on free ports with its own short temp dir.

    Args:
        workdir: where the head's console log goes (``<workdir>/ray/<name>.log``); the jobs'
            working directory as well (the head is started there).
        num_cpus: CPUs the head advertises (Ray detects them when None).
        num_gpus: GPUs the head advertises (Ray detects them when None); logical GPUs on a
            machine without any are for tests of GPU scheduling.
        object_store_memory: bytes for the object store (Ray's default when None).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        object_store_memory: int | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.object_store_memory = object_store_memory
        self.dashboard_url: str | None = None
        self.auth_token: str | None = None
        self.temp_dir: Path | None = None
        self.log_path: Path | None = None
        self._guard: subprocess.Popen[bytes] | None = None
        self._marker = ""
        self._known: dict[int, psutil.Process] = {}

    @property
    def running(self) -> bool:
        return self._guard is not None

    def start(self) -> str:
        """Start the head (once) and return its dashboard URL (the job submission endpoint).

        Raises:
            LaunchError: the head did not come up (the message names its log file).
        """
        if self._guard is not None and self.dashboard_url is not None:
            return self.dashboard_url
        self.workdir.mkdir(parents=True, exist_ok=True)
        error = ""
        for _ in range(_ATTEMPTS):
            error = self._try_start()
            if not error:
                assert self.dashboard_url is not None
                return self.dashboard_url
            if not any(clash in error.lower() for clash in _PORT_CLASH):
                break  # only a port taken between our pick and Ray's bind is worth a retry
        raise LaunchError(f"local Ray head did not start: {error} (log: {self.log_path})")

    def _try_start(self) -> str:
        """One attempt; returns "" on success, else a one-line reason (and cleans up)."""
        # Unix socket paths must stay under ~107 bytes: a short dir of our own in /tmp.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rmsray-", dir="/tmp"))
        self._marker = self.temp_dir.name
        self.auth_token = secrets.token_hex(32)
        self.log_path = self.workdir / "ray" / f"{self._marker}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        gcs_port, dashboard_port, agent_port, client_port = free_ports(4)
        command = [
            sys.executable, str(_GUARD), str(self.temp_dir),
            sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={gcs_port}",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
            f"--dashboard-agent-listen-port={agent_port}",
            f"--ray-client-server-port={client_port}",
            "--min-worker-port=0",  # 0/0: workers take ports from the OS, not 10002-19999
            "--max-worker-port=0",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]  # fmt: skip
        if self.num_cpus is not None:
            command.append(f"--num-cpus={self.num_cpus}")
        if self.num_gpus is not None:
            command.append(f"--num-gpus={self.num_gpus}")
        if self.object_store_memory is not None:
            command.append(f"--object-store-memory={self.object_store_memory}")
        with open(self.log_path, "wb") as log:
            self._guard = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self._environment(),
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the head
            )
        self.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        error = self._await_ready()
        if error:
            self.stop()
        else:
            self._remember()
        return error

    def _environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in environ_snapshot().items()
            if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")
        }
        env[OWNER_ENV] = self._marker
        env.update(LOOPBACK_ENV)
        # Ray's token auth with a token of our own: job drivers inherit it (their ray.init()
        # connects), and no other local user can submit jobs that run as us.
        env.pop("RAY_AUTH_TOKEN_PATH", None)
        assert self.auth_token is not None
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN"] = self.auth_token
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Ray would start an idle worker per CPU as the first driver connects: on a head
        # advertising logical CPUs (CPU jobs' veRL joins it) most of a small host's CPU, for
        # workers that no actor uses (each actor's runtime_env wants a fresh one).
        env["RAY_prestart_worker_first_driver"] = "0"
        # No 30 s node drain on SIGTERM: nothing on our head outlives its owner.
        env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
        # Job entrypoints say `python ...`: make that the interpreter we run under.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return env

    def _await_ready(self) -> str:
        assert self._guard is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._guard.poll() is not None:
                return f"exit status {self._guard.returncode}: {self._log_tail()}"
            probe = urllib.request.Request(
                f"{self.dashboard_url}/api/version", headers=self.auth_headers()
            )
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    return ""
            except OSError:
                time.sleep(0.1)
        return f"no dashboard at {self.dashboard_url} after {_START_TIMEOUT_S:.0f}s"

    def auth_headers(self) -> dict[str, str]:
        """The HTTP header that authenticates a client to this head's dashboard."""
        return {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}

    def _log_tail(self) -> str:
        assert self.log_path is not None
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        text = " | ".join(line.strip() for line in lines if line.strip())[-400:]
        return text or "(empty log)"

    def _remember(self) -> list[psutil.Process]:
        """Every live process of this head: the guard's descendants and the marked ones."""
        import psutil

        assert self._guard is not None
        try:
            guard = psutil.Process(self._guard.pid)
            found = [guard, *guard.children(recursive=True)]
        except psutil.NoSuchProcess:
            found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get(OWNER_ENV) == self._marker:
                    found.append(proc)
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        for proc in found:
            self._known.setdefault(proc.pid, proc)
        return [p for p in self._known.values() if _alive(p)]

    def pids(self) -> list[int]:
        """Pids of this head's live processes (guard, ray daemons, workers, job drivers)."""
        if self._guard is None:
            return []
        return sorted(p.pid for p in self._remember())

    def stop(self) -> None:
        """Stop this head's processes, and only them; idempotent."""
        import psutil

        if self._guard is None:
            return
        procs = [p for p in self._remember() if p.pid != self._guard.pid]
        assert self._guard.stdin is not None
        self._guard.stdin.close()  # the guard stops `ray start`, which stops the rest
        try:
            self._guard.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._guard.kill()
            self._guard.wait()
        alive = _wait_gone(procs, timeout_s=5)
        # Whatever outlived the guard (or was started meanwhile) is killed by pid.
        alive += [p for p in self._remember() if p.pid != self._guard.pid and p not in alive]
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        _wait_gone(alive, timeout_s=5)
        self._guard = None
        self._known.clear()
        self.dashboard_url = self.auth_token = None
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until none of ``procs`` runs; the ones still running then. A zombie counts as
    gone: killed daemons whose parent died are reaped by init, on its own schedule."""
    deadline = time.monotonic() + timeout_s
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    return alive


def _alive(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
