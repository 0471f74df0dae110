"""RayLauncher against real local Ray heads: what only Ray does (wait, auth, isolation, clean
shutdown). What every launcher does (submit, status, logs, stop, outcome) is in
test_launchers.py."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from rmsweep.errors import LaunchError
from rmsweep.launch import RayLauncher
from rmsweep.launch._head import free_ports

# Waits for a file that never appears; its own timeout (exit 3, FAILED) bounds it.
WAIT_FOREVER = """
import os, sys, time
open(sys.argv[1], "w").close()
deadline = time.time() + 300
while not os.path.exists(sys.argv[1] + ".never"):
    if time.time() > deadline:
        sys.exit(3)
    time.sleep(0.1)
"""

# A second process with its own launcher: submits a long job, reports, then obeys stdin.
OWNER = """
import json, sys, time
from pathlib import Path
from rmsweep.launch import RayLauncher
launcher = RayLauncher(None, workdir=Path(sys.argv[1]))
started = Path(sys.argv[1]) / "started"
job = launcher.submit(sys.argv[2] + " " + str(started), env={})
while not started.exists():
    time.sleep(0.05)
print(json.dumps({"url": launcher.dashboard_url, "pids": launcher.owned_pids(), "job": job}),
      flush=True)
if sys.stdin.readline().strip() == "close":
    launcher.close()
    print("closed", flush=True)
"""


def python_c(code: str, *args: str) -> str:
    return " ".join(["python", "-c", shlex.quote(code), *map(shlex.quote, args)])


def until(predicate: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout_s}s")
        time.sleep(0.05)


def all_gone(procs: list[psutil.Process], timeout_s: float = 60.0) -> list[psutil.Process]:
    """The processes still alive (not zombies) after waiting up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = []
        for proc in procs:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayLauncher]:
    with RayLauncher(None, workdir=tmp_path_factory.mktemp("launch")) as shared:
        yield shared


def test_job_sees_env_and_logs_its_output(launcher: RayLauncher) -> None:
    value = f"value-{secrets.token_hex(6)}"
    job = launcher.submit(
        python_c("import os; print('got', os.environ['RMSWEEP_TEST_VALUE'])"),
        env={"RMSWEEP_TEST_VALUE": value},
        metadata={"purpose": "test"},
    )
    seen: list[str] = []
    assert launcher.wait(job, poll_s=0.1, on_poll=seen.append) == "SUCCEEDED"
    assert f"got {value}" in launcher.logs(job)
    assert seen[-1] == "SUCCEEDED"
    assert set(seen) <= {"PENDING", "RUNNING", "SUCCEEDED"}


def test_a_head_started_in_the_background_serves_the_first_submit(tmp_path: Path) -> None:
    own = RayLauncher(None, workdir=tmp_path)
    own.start_in_background()
    job = own.submit(python_c("print('up')"), env={})  # waits for that start, starts no other
    assert own.wait(job, poll_s=0.1) == "SUCCEEDED"
    assert [p.name() for p in map(psutil.Process, own.owned_pids())].count("gcs_server") == 1
    assert len(list((tmp_path / "ray").glob("*.log"))) == 1  # one head's console log
    own.close()
    own.start_in_background()  # a closed launcher: nothing starts, submit says why
    with pytest.raises(LaunchError, match="closed"):
        own.submit(python_c("print('up')"), env={})
    assert own.owned_pids() == []


def test_interrupt_while_waiting_stops_the_job(launcher: RayLauncher, tmp_path: Path) -> None:
    started = tmp_path / "started"
    job = launcher.submit(python_c(WAIT_FOREVER, str(started)), env={})

    def interrupt(status: str) -> None:
        if started.exists():
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        launcher.wait(job, poll_s=0.1, on_poll=interrupt)
    assert launcher.status(job) == "STOPPED"


def test_bad_requests_are_one_line_launch_errors(launcher: RayLauncher) -> None:
    job = launcher.submit(python_c("print(1)"), env={}, submission_id="dup-1")
    with pytest.raises(LaunchError, match="cannot submit job dup-1") as dup:
        launcher.submit(python_c("print(1)"), env={}, submission_id="dup-1")
    with pytest.raises(LaunchError, match="no-such-job") as unknown:
        launcher.status("no-such-job")
    with pytest.raises(LaunchError, match="no-such-job"):
        launcher.wait("no-such-job", poll_s=0.01)  # gives up after a few failed reads
    with pytest.raises(LaunchError, match="must be strings; not for N"):
        launcher.submit("true", env={"N": 1})  # type: ignore[dict-item]
    assert "\n" not in str(dup.value) + str(unknown.value)
    launcher.wait(job, poll_s=0.1)


def test_unreachable_cluster_is_a_launch_error(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    with RayLauncher(f"http://127.0.0.1:{port}", workdir=tmp_path) as remote:
        with pytest.raises(LaunchError, match="cannot reach Ray at") as err:
            remote.submit("true", env={})
    assert "\n" not in str(err.value)
    assert "ray://" in str(err.value)  # names the accepted forms


def test_job_driver_joins_the_head_and_strangers_are_refused(launcher: RayLauncher) -> None:
    driver = "import ray; ray.init(); print('answer', ray.get(ray.remote(lambda: 6 * 7).remote()))"
    job = launcher.submit(python_c(driver), env={})
    assert launcher.wait(job, poll_s=0.2) == "SUCCEEDED", launcher.logs(job)
    assert "answer 42" in launcher.logs(job)
    assert launcher.dashboard_url is not None
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(f"{launcher.dashboard_url}/api/jobs/", timeout=10)


def _spawn_owner(workdir: Path) -> tuple[subprocess.Popen[str], dict]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(workdir), python_c(WAIT_FOREVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line, f"owner process exited with {owner.wait()}"
    return owner, json.loads(line)


def test_two_launchers_in_two_processes_do_not_interfere(
    launcher: RayLauncher, tmp_path: Path
) -> None:
    ours = launcher.submit(python_c(WAIT_FOREVER, str(tmp_path / "ours")), env={})
    until((tmp_path / "ours").exists)
    our_pids = set(launcher.owned_pids())
    owner, report = _spawn_owner(tmp_path / "other")
    assert report["url"] != launcher.dashboard_url
    assert our_pids.isdisjoint(report["pids"])
    their_procs = [psutil.Process(pid) for pid in report["pids"]]

    assert owner.stdin is not None and owner.stdout is not None
    owner.stdin.write("close\n")
    owner.stdin.flush()
    assert owner.stdout.readline().strip() == "closed"
    assert owner.wait(timeout=60) == 0
    assert all_gone(their_procs, timeout_s=5) == []
    # Ours lived through it: the job still runs and the head takes new ones.
    assert launcher.status(ours) == "RUNNING"
    check = launcher.submit(python_c("print('still here')"), env={})
    assert launcher.wait(check, poll_s=0.1) == "SUCCEEDED"
    launcher.stop(ours)


def test_close_leaves_no_process_of_ours(tmp_path: Path) -> None:
    own = RayLauncher(None, workdir=tmp_path)
    job = own.submit(python_c(WAIT_FOREVER, str(tmp_path / "started")), env={})
    until((tmp_path / "started").exists)
    procs = [psutil.Process(pid) for pid in own.owned_pids()]
    names = " ".join(p.name() for p in procs)
    assert "raylet" in names and "gcs_server" in names
    args = [arg for p in procs for arg in p.cmdline()]
    assert str(tmp_path / "started") in args  # the job's driver is one of ours
    temp_dir = next(Path(a.split("=", 1)[1]) for a in args if a.startswith("--temp-dir="))
    own.close()
    assert all_gone(procs, timeout_s=0) == []
    assert not temp_dir.exists()
    own.close()  # idempotent
    with pytest.raises(LaunchError, match="closed"):
        own.status(job)


def test_head_dies_with_its_owner(tmp_path: Path) -> None:
    owner, report = _spawn_owner(tmp_path)
    procs = [psutil.Process(pid) for pid in report["pids"]]
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    assert all_gone(procs, timeout_s=60) == []
