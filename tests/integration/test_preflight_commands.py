"""Bad set-ups fail at the start, in one line, before any run exists: the CLI as a user runs
it, a local Ray head, the PostgreSQL server."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy
from conftest import postgres_databases

from rmsweep import capacity
from rmsweep.launch import RayLauncher

CLI = [sys.executable, "-c", "from rmsweep.cli import main; main()"]
SPEC = """\
name: pf
base: [device=cpu]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
n_trials: 1
"""


def rmsweep(home: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    full = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    full.pop("RMSWEEP_STORAGE", None)
    full.update(RMSWEEP_HOME=str(home), **env)
    started = time.monotonic()
    proc = subprocess.run(
        [*CLI, *args], env=full, capture_output=True, text=True, timeout=300, check=False
    )
    return proc, time.monotonic() - started


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr[-3000:]
    return lines[-1]


def no_runs(db: Path) -> bool:
    if not db.exists():
        return True
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        has_runs = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone()
        return not has_runs or conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_a_gpu_run_on_a_cluster_without_gpus_fails_before_any_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, seconds = rmsweep(home, "run", "train", "device=gpu")
    assert proc.returncode == 1, proc.stderr[-3000:]
    line = error_line(proc)
    assert "the job needs 1 GPU; the cluster has 0 in all" in line and "device=cpu" in line
    assert no_runs(home / "mlflow.db")
    assert not (home / "data").exists()  # not even the data was prepared
    print(f"device=gpu on a CPU machine refused after {seconds:.1f}s (head start included)")


def test_a_dead_ray_address_fails_before_any_run(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path / "home"
    address = f"http://127.0.0.1:{port}"
    proc, seconds = rmsweep(home, "run", "train", "cluster=ray", f"cluster.address={address}")
    assert proc.returncode == 1
    assert f"Ray at '{address}' does not answer" in error_line(proc)
    assert no_runs(home / "mlflow.db")
    assert seconds < 30


def test_one_sqlite_file_for_optuna_and_mlflow_fails_before_anything(tmp_path: Path) -> None:
    (tmp_path / "pf.yaml").write_text(SPEC)
    db = tmp_path / "both.db"
    proc, _ = rmsweep(
        tmp_path / "home",
        *("study", "launch", str(tmp_path / "pf.yaml"), "--runner", "sleep-local"),
        *("--storage", f"sqlite:///{db}"),
        MLFLOW_TRACKING_URI=f"sqlite:///{db}",
    )
    assert proc.returncode == 1
    assert "are one database" in error_line(proc) and "two databases" in error_line(proc)
    assert not db.exists()


@pytest.fixture
def two_databases():
    yield from postgres_databases(2)


def _tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            return set(sqlalchemy.inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_one_postgres_database_for_optuna_and_mlflow_fails_in_one_line(
    tmp_path: Path, two_databases: list[str]
) -> None:
    (tmp_path / "pf.yaml").write_text(SPEC)
    one, other = two_databases
    launch = ("study", "launch", str(tmp_path / "pf.yaml"), "--runner", "sleep-local")
    proc, seconds = rmsweep(
        tmp_path / "home",
        *launch,
        "--storage",
        one,
        MLFLOW_TRACKING_URI=one.replace(
            "postgresql://postgres@127.0.0.1", "postgresql+psycopg2://postgres@localhost"
        ),
    )
    assert proc.returncode == 1
    assert "are one database" in error_line(proc)
    assert "alembic" not in proc.stderr.lower().replace("alembic_version", "")  # no traceback
    assert _tables(one) == set()  # nothing was created
    print(f"same PostgreSQL database refused in {seconds:.1f}s (process start included)")

    # MLflow's schema in `one`, made in another process (this one keeps no client on it).
    make_schema = "import mlflow, sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    psycopg2_url = one.replace("postgresql://", "postgresql+psycopg2://")
    subprocess.run([sys.executable, "-c", make_schema, psycopg2_url], check=True, timeout=120)
    assert "alembic_version" in _tables(one)
    proc, _ = rmsweep(tmp_path / "home", *launch, "--storage", one, MLFLOW_TRACKING_URI=other)
    assert proc.returncode == 1
    assert "holds MLflow's tables" in error_line(proc)
    assert _tables(other) == set()


@pytest.mark.timeout(300)
def test_a_job_waiting_for_busy_resources_says_what_it_waits_for(tmp_path: Path) -> None:
    with RayLauncher(None, workdir=tmp_path, num_cpus=1) as launcher:
        wait = "import signal; signal.pause()"  # a job that holds its CPU until stopped
        busy = launcher.submit(f"{sys.executable} -c '{wait}'", env={}, entrypoint_num_cpus=1)
        queued = launcher.submit(f"{sys.executable} -c '{wait}'", env={}, entrypoint_num_cpus=1)
        started = time.monotonic()
        cluster = capacity.cluster_resources(launcher)
        statuses = sorted(launcher.status(job) for job in (busy, queued))
        # One holds the CPU, the other waits; Ray does not promise which one it placed first,
        # and the job holding the CPU reads PENDING until its entrypoint has started.
        while (
            cluster is None or not cluster.pending.get("CPU") or statuses != ["PENDING", "RUNNING"]
        ):
            assert time.monotonic() - started < 60, (
                f"no waiting demand reported: {cluster}, {statuses}"
            )
            time.sleep(0.5)  # the autoscaler reports every few seconds
            cluster = capacity.cluster_resources(launcher, wait_s=0)
            statuses = sorted(launcher.status(job) for job in (busy, queued))
        assert capacity.waiting_for({"CPU": 1.0}, cluster) == (
            "waiting: the job needs 1 CPU; the cluster has 0 free (1 in all)"
        )
        with pytest.raises(Exception, match="needs 2 CPUs; the cluster has 1 in all"):
            capacity.check_fits({"CPU": 2.0}, cluster, "the local Ray")
        for job in (busy, queued):
            launcher.stop(job)
