"""Nothing of a local Ray listens beyond loopback: neither the head rmsweep starts on demand
(``cluster=local``) nor the private Ray a CPU job starts inside itself (veRL's ``ray.init``
with the package's ``ray_kwargs.ray_init`` and job environment).

The sockets are read from the processes themselves (psutil), while a job runs; nothing
connects to them.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from rmsweep.launch import RayLauncher
from rmsweep.verl_cpu import cpu_env, cpu_overrides

RAY_INIT = "ray_kwargs.ray_init."

# Starts a Ray inside the job as veRL's main_ppo does, runs a task on it, reports, then waits
# (at most 5 minutes) for the test to look at its sockets.
JOB = """
import json, os, sys, time
import ray
ray.init(**json.loads(sys.argv[1]))

@ray.remote
def pid():
    return os.getpid()

ray.get(pid.remote())  # a worker of the job's Ray is up and listening too
open(sys.argv[2], "w").write(str(os.getpid()))
deadline = time.time() + 300
while not os.path.exists(sys.argv[2] + ".done") and time.time() < deadline:
    time.sleep(0.1)
"""


def verl_ray_init() -> dict[str, object]:
    """The ``ray.init`` keywords a CPU job's veRL gets from the package's overrides."""
    kwargs: dict[str, object] = {}
    for override in cpu_overrides():
        key, _, value = override.lstrip("+").partition("=")
        if key.startswith(RAY_INIT):
            kwargs[key.removeprefix(RAY_INIT)] = yaml.safe_load(value)
    assert kwargs["address"] == "local"  # a private Ray, the one this test is about
    return {**kwargs, "runtime_env": {"env_vars": cpu_env()}, "logging_level": "ERROR"}


@pytest.fixture()
def launcher(tmp_path: Path) -> Iterator[RayLauncher]:
    with RayLauncher(None, workdir=tmp_path / "ray") as ray:
        yield ray


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback  # an IPv6 socket bound to ::ffff:127.0.0.1
    return ip.is_loopback


def listening(pids: set[int]) -> list[tuple[str, str, int]]:
    """``(process name, address, port)`` of every listening socket of ``pids``."""
    found = []
    for pid in sorted(pids):
        try:
            proc = psutil.Process(pid)
            name = proc.name()
            sockets = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for sock in sockets:
            if sock.status == psutil.CONN_LISTEN:
                found.append((name, sock.laddr.ip, sock.laddr.port))
    return found


def test_head_and_the_ray_inside_a_job_listen_on_loopback_only(
    launcher: RayLauncher, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    entrypoint = shlex.join(["python", "-c", JOB, json.dumps(verl_ray_init()), str(started)])
    job = launcher.submit(entrypoint, env={**cpu_env(), "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1"})
    deadline = time.monotonic() + 240
    while not started.exists() or not started.read_text():
        status = launcher.status(job)
        assert status in ("PENDING", "RUNNING"), launcher.logs(job)
        assert time.monotonic() < deadline, "the job's Ray did not come up in 240 s"
        time.sleep(0.2)
    try:
        driver = psutil.Process(int(started.read_text()))
        in_job = {driver.pid} | {p.pid for p in driver.children(recursive=True)}
        head = set(launcher.owned_pids()) - in_job
        head_sockets, job_sockets = listening(head), listening(in_job)
    finally:
        (tmp_path / "started.done").touch()
    # Both Rays were looked at: GCS and raylet of each, the head's dashboard, a job supervisor.
    head_names = {name for name, _, _ in head_sockets}
    job_names = {name for name, _, _ in job_sockets}
    assert {"gcs_server", "raylet", "ray::JobSupervisor"} <= head_names, head_sockets
    assert {"gcs_server", "raylet"} <= job_names, job_sockets
    dashboard_port = int(str(launcher.dashboard_url).rpartition(":")[2])
    assert dashboard_port in {port for _, _, port in head_sockets}
    exposed = [s for s in head_sockets + job_sockets if not is_loopback(s[1])]
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert launcher.wait(job, poll_s=0.2) == "SUCCEEDED", launcher.logs(job)
