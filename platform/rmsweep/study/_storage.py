"""The study's Optuna storage: RDB with heartbeats, cross-worker locks, the trial budget.

The study's trial budget is shared by every worker: a trial is *claimed* (a WAITING one
popped, or a new one created) under a lock held across workers, so ``n_trials`` is exact
even with several ``study launch --worker`` processes on one storage.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import StorageError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

HEARTBEAT_S = 10  # how often a running trial's controller says it is alive
GRACE_S = 60  # silence after which another worker fails the trial as stale (and retries it)
STALE_RETRIES = 3  # re-runs of a trial whose controller died (not the trial's fault)


def default_storage_url(workdir: str | Path) -> str:
    """``sqlite:///<workdir>/optuna.db`` (the folder is created)."""
    path = Path(workdir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'optuna.db'}"


def hide_password(url: str) -> str:
    """The URL without its password (safe to log as a param or print)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: nothing to hide we know of
        return url


def open_storage(url: str, *, retries: int = STALE_RETRIES) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats on: a trial whose controller went silent is failed and
    queued again (at most ``retries`` times) by whichever worker notices first.

    Raises:
        StorageError: the URL is not a usable SQLAlchemy URL or the database does not answer.
    """
    import optuna
    import sqlalchemy.exc

    quiet()
    url = with_driver(url)
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Workers starting together on a fresh database would race to create its tables.
        with study_lock(url, "(schema)"):
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=HEARTBEAT_S,
                grace_period=GRACE_S,
                heartbeat_stale_trial_callback=_StaleRetry(retries),
            )
    except (sqlalchemy.exc.SQLAlchemyError, ValueError, ImportError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StorageError(
            f"optuna storage {hide_password(url)}: {first}; check the URL and that the "
            "database answers, or pass another with --storage / $RMSWEEP_STORAGE"
        ) from None


def with_driver(url: str) -> str:
    """``postgresql://…`` → ``postgresql+psycopg2://…`` when psycopg (3) is not installed.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; rmsweep depends on psycopg2.
    """
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return url
    return "postgresql+psycopg2://" + url.removeprefix("postgresql://")


def quiet() -> None:
    """Optuna logs only warnings; its experimental-feature notes (heartbeats) are muted.

    The controller prints its own line per trial event.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several processes write one file: wait for the lock instead of failing at once.
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


class _StaleRetry:
    """Queue a stale trial again with the same params (see :func:`requeue`)."""

    def __init__(self, retries: int) -> None:
        self.retries = retries

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if attempt_of(trial) <= self.retries:
            requeue(study, trial, reason="stale: its controller stopped sending heartbeats")


def attempt_of(trial: FrozenTrial | optuna.Trial) -> int:
    """1 for a first run, 2 for its first retry, …"""
    return int(trial.user_attrs.get(names.ATTR_ATTEMPT, 1))


def requeue(
    study: optuna.Study, trial: FrozenTrial, *, reason: str, same_attempt: bool = False
) -> None:
    """Add a WAITING copy of ``trial`` (same params) that the next free slot picks up.

    Args:
        study: the study.
        trial: the failed (or killed) trial.
        reason: why it runs again (kept as a user attr).
        same_attempt: a killed trial's copy is not a retry (it does not use up ``retries``).
    """
    import optuna

    attempt = attempt_of(trial) + (0 if same_attempt else 1)
    user_attrs = {
        names.ATTR_RETRY_OF: trial.number,
        names.ATTR_ATTEMPT: attempt,
        names.ATTR_REASON: f"re-run of trial {trial.number}: {reason}",
    }
    for kept in (names.ATTR_REPLICATE, names.ATTR_CONFIGURATION):  # the same seed again
        if kept in trial.user_attrs:
            user_attrs[kept] = trial.user_attrs[kept]
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=user_attrs,
        )
    )


def counts_toward_budget(trial: FrozenTrial, retried: set[int]) -> bool:
    """Whether a trial uses one of the study's ``n_trials``.

    Running, waiting, complete and pruned trials do. A failed trial does unless it was queued
    again (its copy counts instead) or killed by Ctrl-C (``study resume`` runs it again).
    """
    from optuna.trial import TrialState

    if trial.state != TrialState.FAIL:
        return True
    return trial.number not in retried and trial.user_attrs.get(names.ATTR_STATE) != "killed"


def budget_used(trials: Sequence[FrozenTrial]) -> int:
    """How many of ``n_trials`` the study has used (see :func:`counts_toward_budget`)."""
    retried = {
        int(t.user_attrs[names.ATTR_RETRY_OF])
        for t in trials
        if names.ATTR_RETRY_OF in t.user_attrs
    }
    return sum(counts_toward_budget(t, retried) for t in trials)


def claim_trial(
    study: optuna.Study,
    n_trials: int,
    lock_url: str,
    on_claim: Callable[[optuna.Trial], None] | None = None,
) -> optuna.Trial | None:
    """Pop a waiting trial or create a new one while budget remains; None when it is spent.

    Stale trials (a worker that went silent) are failed first, which queues their re-runs.
    ``on_claim`` runs on the claimed trial under the lock (a new configuration queues its
    other seeds there, so no other worker sees its budget before they count).
    """
    import optuna
    from optuna.trial import TrialState

    with study_lock(lock_url, study.study_name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if not waiting and (budget_used(trials) >= n_trials or _grid_exhausted(study)):
            return None
        with warnings.catch_warnings():
            # We record heartbeats ourselves (ask/tell, not optimize): Optuna warns about that.
            warnings.filterwarnings("ignore", message=".*Heartbeat.*")
            trial = study.ask()
        if on_claim is not None:
            on_claim(trial)
        return trial


def _grid_exhausted(study: optuna.Study) -> bool:
    """A grid sampler's every point has ended (a new trial would repeat one)."""
    exhausted = getattr(study.sampler, "is_exhausted", None)
    return exhausted is not None and bool(exhausted(study))


@contextlib.contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """A lock shared by every worker of one study on one storage.

    PostgreSQL: an advisory lock; sqlite: a lock file beside the database (all its workers
    share a file system); in-memory or other databases: a lock for this process only.
    """
    if url.startswith("postgresql"):
        with _pg_advisory_lock(url, study_name):
            yield
        return
    path = _sqlite_path(url)
    if path is None:
        with _PROCESS_LOCK:
            yield
        return
    lock_path = path.with_name(path.name + ".lock")
    with _PROCESS_LOCK, open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_PROCESS_LOCK = threading.Lock()
_ENGINES: dict[str, Any] = {}


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(url.removeprefix("sqlite:///"))


@contextlib.contextmanager
def _pg_advisory_lock(url: str, study_name: str) -> Iterator[None]:
    import sqlalchemy

    engine = _ENGINES.get(url)
    if engine is None:
        engine = sqlalchemy.create_engine(with_driver(url), pool_size=1, pool_pre_ping=True)
        _ENGINES[url] = engine
    key = zlib.crc32(f"rmsweep.study:{study_name}".encode())
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def storage_from_env() -> str | None:
    """``$RMSWEEP_STORAGE`` when set (the CLI's ``--storage`` default)."""
    return os.environ.get("RMSWEEP_STORAGE") or None
