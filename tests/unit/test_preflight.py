"""Bad set-ups fail at the start, in one line; whatever cuts a run short ends it.

Real sqlite stores made by MLflow and Optuna themselves; no Ray (the cluster's answer is
parsed from a recorded ``/api/cluster_status`` reply); the PostgreSQL cases are in
tests/integration/test_preflight.py.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from rmsweep import capacity, names, preflight, tracking
from rmsweep.errors import Interrupted, LaunchError, StorageError
from rmsweep.run import RunHandle, wait
from rmsweep.signals import signals_as_interrupt

# What a local head answers once its autoscaler reported (2 CPUs, no GPU), one placement
# group of one GPU bundle waiting.
STATUS = {
    "data": {
        "clusterStatus": {
            "loadMetricsReport": {
                "usage": {"CPU": [1.0, 2.0], "memory": [0.0, 1.6e10], "GPU": [1.0, 1.0]},
                "resourceDemand": [[{"CPU": 1.0}, 2]],
                "pgDemand": [[{"bundles": [[{"GPU": 1.0}, 1]], "strategy": "PACK"}, 1]],
            }
        }
    }
}


# --- one database each ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("postgresql://u@localhost/db", "postgresql+psycopg2://u:pw@127.0.0.1:5432/db"),
        ("mysql+pymysql://u@db-host/x", "mysql://other@DB-HOST:3306/x"),
        ("sqlite:///rel/mlflow.db", "sqlite:///{cwd}/rel/mlflow.db"),
    ],
)
def test_urls_of_one_database_are_the_same(a: str, b: str) -> None:
    b = b.format(cwd=os.getcwd())
    assert preflight.database_identity(a) == preflight.database_identity(b) is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("postgresql://u@host/optuna", "postgresql://u@host/mlflow"),
        ("postgresql://u@host:5432/db", "postgresql://u@host:5433/db"),
        ("postgresql://u@host/db", "postgresql://u@host/db?options=-csearch_path%3Doptuna"),
        ("sqlite:///a/optuna.db", "sqlite:///a/mlflow.db"),
    ],
)
def test_two_databases_or_schemas_differ(a: str, b: str) -> None:
    assert preflight.database_identity(a) != preflight.database_identity(b)


def test_urls_of_no_database_have_no_identity() -> None:
    for url in ("http://mlflow:5000", "file:///tmp/mlruns", "sqlite://", "not a url"):
        assert preflight.database_identity(url) is None


def test_the_two_tools_revisions_are_known_and_apart() -> None:
    optuna_revs, mlflow_revs = preflight.revisions("optuna"), preflight.revisions("mlflow")
    assert "v3.2.0.a" in optuna_revs  # the revision of the reported traceback
    assert len(mlflow_revs) > 20
    assert not optuna_revs & mlflow_revs


def test_one_sqlite_file_for_both_fails_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/both.db"
    with pytest.raises(StorageError) as err:
        preflight.check_databases(url, f"sqlite:///{tmp_path}/./both.db")
    message = str(err.value)
    assert "\n" not in message and "one database" in message and "two databases" in message
    assert not (tmp_path / "both.db").exists()  # nothing was created


def test_a_database_holding_the_other_tools_tables_is_named(tmp_path: Path) -> None:
    mlflow_url = f"sqlite:///{tmp_path}/mlflow.db"
    tracking.tracking_client(mlflow_url)  # MLflow creates its schema there
    optuna_url = f"sqlite:///{tmp_path}/optuna.db"
    optuna.storages.RDBStorage(optuna_url)
    preflight.check_databases(optuna_url, mlflow_url)  # the right way round: fine
    with pytest.raises(StorageError, match="holds MLflow's tables .* two databases"):
        preflight.check_databases(mlflow_url, f"sqlite:///{tmp_path}/new.db")
    with pytest.raises(StorageError, match="holds Optuna's tables"):
        preflight.check_databases(None, optuna_url)


def test_a_store_that_does_not_answer_is_named_with_its_password_hidden() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://rm:hunter2@127.0.0.1:{port}/optuna"
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        preflight.check_databases(url, "sqlite:///unused.db")
    message = str(err.value)
    assert "does not answer" in message and f"127.0.0.1:{port}/optuna" in message
    assert "hunter2" not in message and "\n" not in message
    assert time.monotonic() - started < preflight.CONNECT_TIMEOUT_S + 2


# --- Ray ----------------------------------------------------------------------------------------
def test_a_dead_ray_address_fails_quickly_in_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for address in (f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", "http://203.0.113.1:8265"):
        started = time.monotonic()
        with pytest.raises(LaunchError, match="does not answer.*cluster.address") as err:
            preflight.check_ray_address(address)
        assert "\n" not in str(err.value) and address in str(err.value)
        assert time.monotonic() - started < preflight.RAY_TIMEOUT_S + 1


def test_no_address_and_auto_are_not_probed() -> None:
    for address in (None, "auto"):
        preflight.check_ray_address(address)


def test_cluster_status_gives_each_nodes_gpus_and_a_shape_no_nodes_hold_is_refused() -> None:
    # Ray 2.60's answer for a head without GPUs and two hosts of 4 (one of them busy with 3).
    by_node = {
        "head": {"CPU": [0.0, 0.0], "memory": [0.0, 1e9]},
        "h2": {"CPU": [3.0, 16.0], "GPU": [3.0, 4.0], "hostH2": [0.0, 1.0]},
        "h3": {"CPU": [0.0, 16.0], "GPU": [0.0, 4.0]},
    }
    usage = {"CPU": [3.0, 32.0], "GPU": [3.0, 8.0]}
    report = {"usage": usage, "usageByNode": by_node}
    found = capacity.parse_cluster_status(
        {"data": {"clusterStatus": {"loadMetricsReport": report}}}
    )
    assert found is not None
    assert (found.gpus_free, found.gpus_total) == ([1.0, 4.0], [4.0, 4.0])
    capacity.check_fits({"GPU": 8.0}, found, "here", (4, 2))  # busy now, but it fits at all
    with pytest.raises(LaunchError, match="needs 5 GPUs on one node; the cluster has 0 such"):
        capacity.check_fits({"GPU": 5.0}, found, "here", (5, 1))  # 8 in all, none holds 5


def test_cluster_status_gives_total_free_and_waiting_resources() -> None:
    found = capacity.parse_cluster_status(STATUS)
    assert found is not None
    assert found.total["CPU"] == 2.0 and found.free["CPU"] == 1.0 and found.free["GPU"] == 0.0
    assert found.pending == {"CPU": 2.0, "GPU": 1.0}
    assert capacity.parse_cluster_status({"data": {"clusterStatus": None}}) is None


def test_a_gpu_job_on_a_cluster_without_gpus_could_never_start() -> None:
    cpu_only = capacity.ClusterResources(total={"CPU": 2.0}, free={"CPU": 2.0})
    gpu = OmegaConf.create({"device": {"name": "gpu", "gpus_per_node": 1, "nnodes": 1}})
    cpu = OmegaConf.create({"device": {"name": "cpu", "gpus_per_node": 1, "nnodes": 1}})
    assert capacity.job_resources(cpu) == {}  # its own Ray inside the job
    with pytest.raises(LaunchError) as err:
        capacity.check_fits(capacity.job_resources(gpu), cpu_only, "http://127.0.0.1:8265")
    assert str(err.value) == (
        "the job needs 1 GPU; the cluster has 0 in all (at http://127.0.0.1:8265), so it could "
        "never start: use device=cpu, or a cluster with GPUs (cluster=ray)"
    )
    with pytest.raises(LaunchError, match="needs 4 CPUs; the cluster has 2 in all"):
        capacity.check_fits({"CPU": 4.0}, cpu_only, "here")
    capacity.check_fits({"CPU": 2.0}, cpu_only, "here")
    capacity.check_fits({"GPU": 8.0}, None, "here")  # an unknown cluster is not judged


def test_a_waiting_job_says_what_it_waits_for() -> None:
    cluster = capacity.parse_cluster_status(STATUS)
    assert capacity.waiting_for({"GPU": 1.0}, cluster) == (
        "waiting: the job needs 1 GPU; the cluster has 0 free (1 in all)"
    )
    assert capacity.waiting_for({"CPU": 1.0}, cluster) is None  # 1 CPU is free
    idle = capacity.ClusterResources(total={"GPU": 1.0}, free={"GPU": 0.0})
    assert capacity.waiting_for({"GPU": 1.0}, idle) is None  # nothing waits: it runs


# --- stop signals and errors end the run ----------------------------------------------------
def test_sigterm_and_sighup_take_the_ctrl_c_path() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        outer = signal.signal(sig, signal.SIG_DFL)  # a runner under nohup ignores SIGHUP
        try:
            with pytest.raises(KeyboardInterrupt) as err, signals_as_interrupt():
                os.kill(os.getpid(), sig)
                time.sleep(5)  # the handler raises in this thread long before
            assert signal.getsignal(sig) is signal.SIG_DFL
        finally:
            signal.signal(sig, outer)
        assert isinstance(err.value, Interrupted)
        assert err.value.reason == f"stopped by {sig.name}"


def test_an_ignored_sighup_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.fixture
def store(tmp_path: Path) -> tuple[MlflowClient, str]:
    client = tracking.tracking_client(f"sqlite:///{tmp_path}/mlflow.db")
    return client, tracking.ensure_experiment(client, "e", tmp_path / "artifacts")


@pytest.mark.parametrize(
    ("err", "status", "reason"),
    [
        (Interrupted("SIGTERM"), "KILLED", "stopped by SIGTERM"),
        (KeyboardInterrupt(), "KILLED", "stopped by Ctrl-C"),
        (KeyError("_MLFLOW_TELEMETRY_SESSION_ID"), "FAILED", "KeyError: '_MLFLOW_TELEMETRY"),
    ],
)
def test_an_error_after_the_run_exists_ends_it(store, err, status: str, reason: str) -> None:
    client, experiment_id = store
    run_id = tracking.create_run(client, experiment_id, run_name="r", tags={}, params={})
    with pytest.raises(type(err)), tracking.ended_on_error(client, run_id):
        raise err
    run = client.get_run(run_id)
    assert run.info.status == status
    assert run.data.tags[names.TAG_REASON].startswith(reason)


def test_a_record_cut_short_ends_its_run_failed(store, tmp_path: Path) -> None:
    client, experiment_id = store
    with pytest.raises(TypeError):
        tracking.record_run(
            client,
            experiment_id,
            run_name="cut-short",
            config={"a": 1},
            overrides=[],
            tags={},
            texts={"reward": ("reward/r.py", None)},
            datasets=[],
        )
    [run] = client.search_runs([experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags[names.TAG_STATE] == "failed"
    assert "TypeError" in run.data.tags[names.TAG_REASON]


class VanishedCluster:
    """A launcher whose cluster went away while a run waited on it."""

    def __init__(self) -> None:
        self.stops = 0

    def wait(self, job_id: str, **_: object) -> str:
        raise LaunchError(f"cannot read job {job_id} status: connection refused")

    def stop(self, job_id: str) -> None:
        self.stops += 1
        raise LaunchError(f"cannot stop job {job_id}: connection refused")

    def status(self, job_id: str) -> str:
        raise LaunchError("connection refused")

    def logs(self, job_id: str) -> str:
        raise LaunchError("connection refused")

    def details(self, job_id: str) -> tuple[str | None, str]:
        raise LaunchError("connection refused")


def test_a_run_whose_cluster_vanished_still_ends(store) -> None:
    client, experiment_id = store
    run_id = tracking.create_run(client, experiment_id, run_name="r", tags={}, params={})
    launcher = VanishedCluster()
    cfg = OmegaConf.create({"data": {"name": "synthetic"}})
    handle = RunHandle(
        cfg=cfg,
        run_id=run_id,
        job_id="j1",
        launcher=launcher,
        client=client,
    )
    with pytest.raises(LaunchError):
        wait(handle, poll_s=0.01)
    run = client.get_run(run_id)
    assert launcher.stops == 1
    assert run.info.status == "FAILED"
    assert run.data.tags[names.TAG_JOB_STATUS] == "UNKNOWN"
    assert "cannot read job j1 status" in run.data.tags[names.TAG_REASON]
    assert "stopping its job failed" in run.data.tags[names.TAG_REASON]


def test_run_train_prints_one_progress_line_per_change(store, capsys) -> None:
    from rmsweep.cli.run import RunProgress

    client, experiment_id = store
    run_id = tracking.create_run(client, experiment_id, run_name="r", tags={}, params={})
    cfg = OmegaConf.create(
        {"data": {"name": "synthetic"}, "trainer": {"total_steps": 3}, "device": {"name": "cpu"}}
    )
    handle = RunHandle(
        cfg=cfg,
        run_id=run_id,
        job_id="j1",
        launcher=VanishedCluster(),
        client=client,
    )
    progress = RunProgress()
    with progress:
        progress(handle, "PENDING")
        progress(handle, "RUNNING")
        client.log_metric(run_id, names.metric_key("val/acc", "synthetic"), 0.5, step=0)
        client.log_metric(run_id, names.metric_key("train/reward", "synthetic"), 0.25, step=1)
        progress(handle, "RUNNING")
        progress(handle, "RUNNING")  # nothing changed: no line
    tracking.finish_run(client, run_id, "complete")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"run {run_id}: job PENDING",
        f"run {run_id}: job RUNNING",
        f"run {run_id}: job RUNNING, step 1/3, val/acc 0.500",
    ]
