"""rmsweep: sweeps over reasoning reward-model training (veRL GRPO + Optuna + MLflow)."""

from __future__ import annotations

__version__ = "0.1.0"
