"""Checks before anything is created: a bad set-up fails at the start, in one line.

``rmsweep run train|reproduce`` and ``study launch|resume`` call these before their first MLflow
run exists, so a set-up that cannot work leaves nothing behind:

- Optuna's storage and MLflow's backend must be two databases (or two schemas): both keep
  their schema version in a table named ``alembic_version``, and each fails on the other's
  revision (``Can't locate revision identified by 'v3.2.0.a'``).
- Every store answers (within ``CONNECT_TIMEOUT_S``), and so does a Ray address.
- A job fits the cluster *at all* (``rmsweep.capacity``): a job asking for more GPUs (or
  CPUs) than the cluster has would wait forever for resources that will never exist.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep.errors import LaunchError, StorageError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.launch import RayLauncher

CONNECT_TIMEOUT_S = 5.0
RAY_TIMEOUT_S = 3.0
_DB_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle")
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
_REVISION = re.compile(r"^revision\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", re.M)
TWO_DATABASES = (
    "use two databases (or two PostgreSQL schemas: ?options=-csearch_path%3Doptuna), "
    "e.g. RMSWEEP_STORAGE=postgresql://host/optuna and MLFLOW_TRACKING_URI=postgresql://host/mlflow"
)


def hide_password(url: str) -> str:
    from rmsweep.study._storage import hide_password as hide

    return hide(url)


# --- databases -------------------------------------------------------------------------------
def database_identity(url: str) -> tuple[str, ...] | None:
    """What makes two SQLAlchemy URLs the same database: the backend (drivers ignored), host
    (``localhost`` = ``127.0.0.1``), port (its default filled in), database and options (a
    schema chosen by ``search_path``); a sqlite file by its resolved path. None for a URL that
    is no database (``http://…``, ``file:…``) or an in-memory sqlite."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    backend = parsed.get_backend_name()
    if backend not in _DB_BACKENDS:
        return None
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return None
        return ("sqlite", str(Path(parsed.database).expanduser().resolve()))
    host = (parsed.host or "").lower()
    host = "localhost" if host in _LOCAL_HOSTS else host
    port = parsed.port or _DEFAULT_PORTS.get(backend, 0)
    options = ",".join(f"{k}={v}" for k, v in sorted(parsed.query.items()) if k == "options")
    return (backend, host, str(port), parsed.database or "", options)


@functools.cache
def revisions(tool: str) -> frozenset[str]:
    """The alembic revisions the installed ``optuna`` or ``mlflow`` can write."""
    import importlib.util

    folder = {"optuna": "storages/_rdb/alembic/versions", "mlflow": "store/db_migrations/versions"}
    spec = importlib.util.find_spec(tool)
    if spec is None or spec.origin is None:
        return frozenset()
    versions = Path(spec.origin).parent / folder[tool]
    return frozenset(
        match for path in versions.glob("*.py") for match in _REVISION.findall(path.read_text())
    )


def alembic_revision(url: str, what: str) -> str | None:
    """The revision in the database's ``alembic_version`` table (None: no table, or a sqlite
    file that does not exist yet).

    Raises:
        StorageError: the database does not answer (names the URL, password hidden).
    """
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from rmsweep.study._storage import with_driver

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and not Path(parsed.database).expanduser().exists():
            return None
        connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S}
    else:
        connect_args = {"connect_timeout": int(CONNECT_TIMEOUT_S)}
    try:
        engine = sqlalchemy.create_engine(with_driver(url), connect_args=connect_args)
    except Exception as err:
        raise StorageError(f"{what} {hide_password(url)}: {_one_line(err)}") from None
    try:
        with engine.connect() as conn:
            if not sqlalchemy.inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).first()
    except Exception as err:
        raise StorageError(
            f"{what} {hide_password(url)} does not answer: {_one_line(err)}; check the URL and "
            "that the database server runs"
        ) from None
    finally:
        engine.dispose()
    return None if row is None else str(row[0])


def check_databases(storage_url: str | None, tracking_uri: str) -> None:
    """Optuna's storage and MLflow's backend answer and are two databases.

    Raises:
        StorageError: one does not answer, both are one database, or one database already
            holds the other tool's tables (its ``alembic_version`` revision says so).
    """
    if storage_url is not None:
        same = database_identity(storage_url)
        if same is not None and same == database_identity(tracking_uri):
            raise StorageError(
                f"the Optuna storage {hide_password(storage_url)} and the MLflow tracking store "
                f"{hide_password(tracking_uri)} are one database (both keep an alembic_version "
                f"table): {TWO_DATABASES}"
            )
    stores = [("MLflow tracking store", tracking_uri, "optuna")]
    if storage_url is not None:
        stores.insert(0, ("Optuna storage", storage_url, "mlflow"))
    for what, url, other in stores:
        if database_identity(url) is None:
            if url.startswith(("http://", "https://")):
                check_http(f"{url.rstrip('/')}/health", what)
            continue
        revision = alembic_revision(url, what)
        if revision is not None and revision in revisions(other):
            owner = "MLflow" if other == "mlflow" else "Optuna"
            raise StorageError(
                f"the {what} {hide_password(url)} holds {owner}'s tables (alembic revision "
                f"{revision!r}): {TWO_DATABASES}"
            )


def check_http(url: str, what: str) -> None:
    """``url`` answers an HTTP GET within ``CONNECT_TIMEOUT_S``."""
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S):
            return
    except Exception as err:
        raise StorageError(
            f"{what} {hide_password(url)} does not answer: {_one_line(err)}"
        ) from None


# --- Ray -------------------------------------------------------------------------------------
def check_ray_address(address: str | None) -> None:
    """A Ray address answers within ``RAY_TIMEOUT_S``: a dashboard (``http(s)://``) answers
    ``/api/version`` as Ray does; a ``ray://`` or GCS ``host:port`` accepts a connection.
    None (a local head started on demand) and ``auto`` are not checked.

    Raises:
        LaunchError: nothing (or something else than Ray) answers there.
    """
    if address is None or address.strip() in ("", "auto", "local"):
        return
    if address.startswith(("http://", "https://")):
        problem = _dashboard_problem(address)
    else:
        problem = _connect_problem(address)
    if problem:
        raise LaunchError(
            f"Ray at {address!r} does not answer ({problem}, within {RAY_TIMEOUT_S:.0f}s): "
            "check cluster.address / $RAY_ADDRESS, or use cluster=local"
        )


def _dashboard_problem(address: str) -> str | None:
    try:
        url = f"{address.rstrip('/')}/api/version"
        with urllib.request.urlopen(url, timeout=RAY_TIMEOUT_S) as answer:
            if "ray_version" in json.load(answer):
                return None
            return "not a Ray dashboard"
    except urllib.error.HTTPError as err:
        # 401/403: a Ray whose token auth refuses us without one; submitting says more.
        return None if err.code in (401, 403) else f"HTTP {err.code}: not a Ray dashboard"
    except (OSError, ValueError) as err:
        return _one_line(err)


def _connect_problem(address: str) -> str | None:
    parsed = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parsed.port or (10001 if parsed.scheme == "ray" else None)
    except ValueError:
        port = None
    if not parsed.hostname or port is None:
        return None  # a form Ray resolves itself; its own error names it
    try:
        with socket.create_connection((parsed.hostname, port), timeout=RAY_TIMEOUT_S):
            return None
    except OSError as err:
        return _one_line(err)


# --- the entry points ----------------------------------------------------------------------
def check_run(cfg: DictConfig, launcher: RayLauncher, stage: str = "grpo") -> None:
    """Before ``rmsweep run train|reproduce`` creates its run: the tracking store answers
    and is not Optuna's, Ray answers, the job fits the cluster."""
    from rmsweep import capacity
    from rmsweep.shipping import check as check_shipping

    check_databases(None, cfg.tracking.uri)
    check_from_run(cfg)
    check_ray_address(cfg.cluster.address)
    check_shipping(cfg)  # nodes that cannot see this disk can reach the run's record
    capacity.check_job(cfg, launcher, stage)


def check_study(storage_url: str, cfg: DictConfig) -> None:
    """Before ``study launch`` creates anything: two databases that answer, Ray answers."""
    from rmsweep.shipping import check as check_shipping
    from rmsweep.stages import check_stage_data

    check_stage_data(cfg, "grpo")  # a study's trials are GRPO runs
    check_shipping(cfg)  # nodes that cannot see this disk can reach the runs' record
    check_databases(storage_url, cfg.tracking.uri)
    check_from_run(cfg)
    check_ray_address(cfg.cluster.address)


def check_from_run(cfg: DictConfig) -> None:
    """``model.from_run`` names a run whose trained model can be found (here or as its
    artifact): a CheckpointError naming the run otherwise, before any run exists."""
    if not cfg.model.from_run:
        return
    from rmsweep.record import locate_parent

    locate_parent(cfg)


def check_resume(storage: str | None) -> None:
    """Before ``study resume`` opens the storage (``--storage``, ``$RMSWEEP_STORAGE`` or the
    default sqlite): the storage and the default tracking store are two databases."""
    from rmsweep.study._base import compose_base
    from rmsweep.study._storage import default_storage_url, storage_from_env

    cfg = compose_base([])
    check_study(storage or storage_from_env() or default_storage_url(cfg.workdir), cfg)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
