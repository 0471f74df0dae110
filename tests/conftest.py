"""Shared fixtures and the test tiers.

- Tiers follow the folders: everything under tests/integration/ is marked ``integration``
  (real processes, Ray, veRL, PostgreSQL); ``pytest -m "not integration"`` is the fast tier.
- Every test gets its own work directory (sqlite stores, caches, data): ``workdir``.
- A guard fails any test that leaves an MLflow run RUNNING in a store it used, or an active
  (fluent) run open; a test that means to (a simulated crash) says so with
  ``@pytest.mark.leaves_mlflow_run_running``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rmsweep.testing.cluster import Cluster, Hosts

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
ULTRAFEEDBACK = SHARED / "data" / "ultrafeedback"
INTEGRATION = Path(__file__).resolve().parent / "integration"
pytest_plugins = (
    "pytester",
)  # tests/integration/test_conftest_guard.py runs the guard on a sample


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)


# --- the MLflow guard ------------------------------------------------------------------------
# Every MlflowClient call (the fluent API's too) reaches its store through
# TrackingServiceClient.store: wrapping that property records the tracking URIs the current
# test used, whenever its client was made. MLflow is patched only once a test has imported
# it, so tests that never touch MLflow pay nothing.
_used_uris: set[str] = set()
_patched = False


def _record_tracking_uris() -> None:
    global _patched
    if _patched or "mlflow" not in sys.modules:
        return
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    store = TrackingServiceClient.store

    def recording_store(self: TrackingServiceClient) -> object:
        _used_uris.add(str(self.tracking_uri))
        return store.fget(self)  # type: ignore[misc]

    TrackingServiceClient.store = property(recording_store)  # type: ignore[method-assign]
    _patched = True


def _running_runs(uri: str) -> list[str]:
    """``run_id (name)`` of each RUNNING run in the store at ``uri``."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.is_file():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
                return []
            rows = db.execute(
                "SELECT run_uuid, name FROM runs "
                "WHERE status = 'RUNNING' AND lifecycle_stage = 'active'"
            ).fetchall()
        return [f"{run_id} ({name})" for run_id, name in rows]
    if not uri.startswith(("postgresql", "mysql")):
        return []  # a server may be gone by now; file stores are not used here
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, "attributes.status = 'RUNNING'") if ids else []
    return [f"{r.info.run_id} ({r.info.run_name})" for r in runs]


_found_before_drop: list[str] = []


def _check_before_drop(urls: list[str]) -> None:
    """The guard's check for databases a fixture drops before the guard's own teardown."""
    databases = {url.rsplit("/", 1)[1] for url in urls}
    for uri in sorted(_used_uris):  # the same database, maybe with a driver named in the URL
        if uri.startswith("postgresql") and uri.split("?")[0].rsplit("/", 1)[1] in databases:
            left = _running_runs(uri)
            _used_uris.discard(uri)  # after the check: its own client records the URI again
            if left:
                _found_before_drop.append(f"MLflow runs left RUNNING in {uri}: {', '.join(left)}")


@pytest.fixture(autouse=True)
def _no_mlflow_run_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    _record_tracking_uris()
    _used_uris.clear()
    yield
    _record_tracking_uris()
    problems = []
    if "mlflow" in sys.modules:
        import mlflow

        active = mlflow.active_run()
        if active is not None:
            mlflow.end_run()  # not to leak into the next test
            problems.append(f"an active MLflow run was left open: {active.info.run_id}")
    if request.node.get_closest_marker("leaves_mlflow_run_running") is None:
        problems.extend(_found_before_drop)
        for uri in sorted(_used_uris):
            left = _running_runs(uri)
            if left:
                problems.append(f"MLflow runs left RUNNING in {uri}: {', '.join(left)}")
    _used_uris.clear()
    _found_before_drop.clear()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh RMSWEEP_HOME, and no MLflow URI leaking in from the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("RMSWEEP_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return home


# The torch threads of a test's veRL job processes follow the test process's OMP_NUM_THREADS
# (`make test` sets 1: two test processes on two cores at 2 threads each spin-wait on each
# other); unset, the jobs keep device=cpu's default.
_THREADS = os.environ.get("OMP_NUM_THREADS")
JOB_THREADS = (f"device.threads={_THREADS}",) if _THREADS else ()
# A training run small enough for CI, big enough to have train steps and two validations:
# the integration tests add only what they vary (Hydra: the last override of a key wins).
SMALL_RUN = (
    *JOB_THREADS,
    "trainer.total_steps=3",
    "trainer.test_freq=2",
    "trainer.train_batch_size=8",
    "trainer.ppo_mini_batch_size=8",
    "trainer.rollout_n=4",
    "trainer.micro_batch_size_per_gpu=32",
    "trainer.max_val_samples=32",
    "model.tiny.warmstart_steps=120",
    "data.n_train=400",
    "data.n_val=64",
)


@pytest.fixture(scope="session")
def new_home(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Makes a fresh RMSWEEP_HOME whose tiny-model cache (``models/``) is the session's one:
    the real runs of several modules build the same small model once (the cache is safe for
    processes that build the same entry at once). Under xdist the test processes share it too:
    their base temp dirs have one parent, and the cache's lock makes a second builder wait."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "tiny-models"
        shared.mkdir(exist_ok=True)
    else:
        shared = tmp_path_factory.mktemp("tiny-models")

    def make(name: str) -> Path:
        home = tmp_path_factory.mktemp(name) / "home"
        home.mkdir()
        (home / "models").symlink_to(shared, target_is_directory=True)
        return home

    return make


@pytest.fixture(scope="session")
def small_run() -> list[str]:
    """Overrides for a small real veRL run (``SMALL_RUN``)."""
    return list(SMALL_RUN)


def postgres_databases(count: int) -> Iterator[list[str]]:
    """Fresh databases on the local PostgreSQL server (dropped afterwards), as SQLAlchemy URLs.

    Skips, saying why, where no server answers on 127.0.0.1:5432.
    """
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3
        )
    except psycopg2.OperationalError as err:
        pytest.skip(f"no PostgreSQL server answers on 127.0.0.1:5432: {err}".strip())
    conn.autocommit = True
    made = [f"rmsweep_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with conn.cursor() as cur:
        for name in made:
            cur.execute(f'CREATE DATABASE "{name}"')
    urls = [f"postgresql://postgres@127.0.0.1:5432/{name}" for name in made]
    try:
        yield urls
    finally:
        _check_before_drop(urls)
        with conn.cursor() as cur:
            for name in made:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


# --- the cluster tier ------------------------------------------------------------------------
def _cluster_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "nsenter", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The one-machine cluster (rmsweep.testing.cluster) of the ``cluster`` tier, built once per
    session and torn down even on failure; ``RMSWEEP_TEST_CLUSTER=reuse`` uses the one
    `python -m rmsweep.testing.cluster up` made, and leaves it up."""
    missing = _cluster_missing()
    if missing:
        pytest.skip(missing)
    from rmsweep.testing.cluster import Cluster

    if os.environ.get("RMSWEEP_TEST_CLUSTER") == "reuse":  # one that `cluster up` made, kept
        yield Cluster.load()
        return
    made = Cluster(checkout=REPO_ROOT).up()
    try:
        yield made
    finally:
        made.down()


@pytest.fixture(scope="session")
def hosts(cluster: Cluster) -> Hosts:
    from rmsweep.testing.cluster import Hosts

    return Hosts(cluster)
