"""The MLflow record of a run, through an explicit ``MlflowClient`` and run id.

Before a job starts, ``record_run`` writes the experiment's run with its tags, params (the
flattened resolved config), artifacts with their sha256 (resolved config, overrides, reward
function source, rendered template, git diff, package list) and dataset inputs. veRL's own
MLflow logger then attaches to that run (``MLFLOW_RUN_ID``) and adds the metrics;
``finish_run`` closes it. Secret-looking names (KEY, TOKEN, SECRET, PASSWORD, ...) never
reach the store: see ``is_secret_name`` and ``redact_secrets``. Importing this package does not import
MLflow.
"""

from __future__ import annotations

from rmsweep.tracking._params import flatten_params, param_value
from rmsweep.tracking._provenance import (
    code_digest,
    frozen_requirements,
    git_state,
    package_versions,
)
from rmsweep.tracking._record import DatasetRef, record_run
from rmsweep.tracking._secrets import (
    config_secret_values,
    env_secret_values,
    environ_snapshot,
    is_secret_name,
    mask_config,
    mask_overrides,
    override_secret_values,
    redact_secrets,
)
from rmsweep.tracking._store import (
    MLFLOW_STATUS,
    create_run,
    end_on_error,
    ended_on_error,
    ensure_experiment,
    error_reason,
    finish_run,
    log_dataset,
    log_text_artifact,
    sha256_text,
    tracking_client,
)

__all__ = [
    "MLFLOW_STATUS",
    "DatasetRef",
    "code_digest",
    "config_secret_values",
    "create_run",
    "end_on_error",
    "ended_on_error",
    "ensure_experiment",
    "env_secret_values",
    "environ_snapshot",
    "error_reason",
    "finish_run",
    "flatten_params",
    "frozen_requirements",
    "git_state",
    "is_secret_name",
    "log_dataset",
    "log_text_artifact",
    "mask_config",
    "mask_overrides",
    "override_secret_values",
    "package_versions",
    "param_value",
    "record_run",
    "redact_secrets",
    "sha256_text",
    "tracking_client",
]
