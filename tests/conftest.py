"""Shared fixtures: every test gets its own work directory (sqlite stores, caches, data)."""

from __future__ import annotations

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
