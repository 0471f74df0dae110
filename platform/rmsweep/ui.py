"""``rmsweep ui``: a lightweight MLflow server on a tracking store, until Ctrl-C or SIGTERM.

One uvicorn worker, no job execution (MLflow's background job runner is for GenAI features),
bound to 127.0.0.1 on port 5000 when it is free (the port the run links rmsweep stores use,
``rmsweep.links``), else on any free port, or on the one asked for. The server runs in its own
session: Ctrl-C reaches rmsweep, which stops the server's whole process group.

Example::

    with serve("sqlite:////abs/.rmsweep/mlflow.db") as server:
        print(links.experiments_url(server.url))
        server.wait()  # until Ctrl-C / SIGTERM
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rmsweep.errors import LaunchError
from rmsweep.tracking._secrets import environ_snapshot

HOST = "127.0.0.1"
DEFAULT_PORT = 5000  # MLflow's own default, and rmsweep.links.DEFAULT_UI_URL's
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0


@dataclass
class Server:
    """A running MLflow server: its base URL and process."""

    url: str
    process: subprocess.Popen[bytes]

    def wait(self) -> int | None:
        """Block until Ctrl-C or SIGTERM (None), or until the server exits (its code)."""
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            return self.process.wait()
        except KeyboardInterrupt:
            return None
        finally:
            signal.signal(signal.SIGTERM, previous)


def free_port(host: str = HOST, preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if nothing listens on it now, else a free port the OS picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise LaunchError(f"no free port on {host}")


def server_command(
    tracking_uri: str, *, port: int, host: str = HOST, artifact_root: str | None = None
) -> list[str]:
    """``mlflow server`` on ``tracking_uri`` with one worker."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri]
    command += ["--host", host, "--port", str(port), "--workers", "1"]
    if artifact_root is not None:
        command += ["--default-artifact-root", Path(artifact_root).resolve().as_uri()]
    return command


@contextlib.contextmanager
def serve(
    tracking_uri: str,
    *,
    port: int | None = None,
    artifact_root: str | None = None,
    log_path: Path | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> Iterator[Server]:
    """Run an MLflow server on ``tracking_uri`` while the block runs.

    Args:
        tracking_uri: the store (``sqlite:///…``, ``postgresql://…``).
        port: the port (default: 5000 when free, else any free one).
        artifact_root: where new experiments keep artifacts (existing ones keep theirs).
        log_path: the server's output (default: discarded unless it fails to start).
        timeout_s: how long it may take to answer ``/health``.

    Yields:
        The server, answering on ``server.url``; stopped when the block ends.

    Raises:
        LaunchError: the server exited or did not answer in time (its last output lines).
    """
    import tempfile

    port = port or free_port()
    url = f"http://{HOST}:{port}"
    env = {**environ_snapshot(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="rmsweep-ui-")[1])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            server_command(tracking_uri, port=port, artifact_root=artifact_root),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_healthy(url, process, log, timeout_s)
        yield Server(url, process)
    finally:
        stop(process)
        if log_path is None:
            log.unlink(missing_ok=True)


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Poll ``<url>/health`` until it answers OK.

    Raises:
        LaunchError: the process exited first, or ``timeout_s`` passed.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LaunchError(f"mlflow server exited with code {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)  # polling a condition: the server answering
    raise LaunchError(f"mlflow server did not answer {url}/health in {timeout_s:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL after a grace period."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"
