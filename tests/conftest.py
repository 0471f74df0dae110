"""Shared fixtures: every test gets its own work directory (sqlite stores, caches, data)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
ULTRAFEEDBACK = SHARED / "data" / "ultrafeedback"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh RMSWEEP_HOME, and no MLflow URI leaking in from the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("RMSWEEP_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return home


# A training run small enough for CI, big enough to have train steps and two validations:
# the integration tests add only what they vary (Hydra: the last override of a key wins).
SMALL_RUN = (
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
    try:
        yield [f"postgresql://postgres@127.0.0.1:5432/{name}" for name in made]
    finally:
        with conn.cursor() as cur:
            for name in made:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
