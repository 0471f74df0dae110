"""Links into the MLflow UI: experiments, runs, and the compare view of several runs.

Every URL carries ``workflowType=machine_learning``: MLflow 3 opens an experiment in its GenAI
view (traces, judges) unless the URL asks for the model-training view (runs, models), and the
experiment tag ``mlflow.experimentKind`` alone does not switch it.

Example:
    >>> run_url("http://127.0.0.1:5000", "1", "abc")
    'http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from urllib.parse import quote

WORKFLOW = "workflowType=machine_learning"
UI_URL_ENV = "RMSWEEP_UI_URL"  # where users open the MLflow UI, when not the default
DEFAULT_UI_URL = "http://127.0.0.1:5000"  # what `mlflow ui` and `rmsweep ui --port 5000` serve


def ui_base(tracking_uri: str | None = None) -> str:
    """The UI that shows a tracking store: ``$RMSWEEP_UI_URL``, else an http(s) tracking
    server itself, else ``http://127.0.0.1:5000``."""
    configured = os.environ.get(UI_URL_ENV)
    if configured:
        return configured.rstrip("/")
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return DEFAULT_UI_URL


def experiments_url(base: str) -> str:
    """The list of experiments."""
    return f"{base.rstrip('/')}/#/experiments?{WORKFLOW}"


def experiment_url(base: str, experiment_id: str) -> str:
    """An experiment's runs table (a study's parent run with its trials nested)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{WORKFLOW}"


def shared_view_url(base: str, experiment_id: str, key: str) -> str:
    """An experiment's runs table as a shared view stored on it (``shared_view``)."""
    page = f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"
    return f"{page}?viewStateShareKey={quote(key, safe='')}&{WORKFLOW}"


def shared_view(
    search_filter: str, columns: Sequence[str], order_by: str | None = None
) -> tuple[str, str]:
    """The experiment tag that holds a runs-table view MLflow's UI opens from a link (its
    "share" feature): runs matching ``search_filter``, ``columns`` (``params.`reward```,
    ``metrics.`val/acc```) shown, sorted by ``order_by`` descending. Returns (tag key, value);
    the key part of the tag's name, after ``mlflow.sharedViewState.``, goes in the URL."""
    state = {
        "searchFilter": search_filter,
        "orderByKey": order_by or "attributes.start_time",
        "orderByAsc": False,
        "selectedColumns": list(columns),
    }
    value = json.dumps(state, sort_keys=True)
    key = hashlib.sha256(value.encode()).hexdigest()[:16]
    return key, value


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page: params, metrics, artifacts."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW}"


def compare_url(base: str, run_ids: Sequence[str], experiment_ids: Sequence[str]) -> str:
    """The compare view of ``run_ids``: params, metrics, parallel coordinates.

    The view reads ``runs`` and ``experiments`` as JSON lists from the URL (encoded here).
    """
    runs = quote(json.dumps(list(run_ids), separators=(",", ":")), safe="")
    experiments = quote(json.dumps(list(experiment_ids), separators=(",", ":")), safe="")
    return f"{base.rstrip('/')}/#/compare-runs?runs={runs}&experiments={experiments}&{WORKFLOW}"
