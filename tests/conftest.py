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
