"""Links into the MLflow UI: the model-training view always, and the compare view's URL."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from rmsweep import links

BASE = "http://127.0.0.1:5000"


def test_every_link_opens_the_model_training_view() -> None:
    made = [
        links.experiments_url(BASE),
        links.experiment_url(BASE, "3"),
        links.run_url(BASE + "/", "3", "abc"),
        links.compare_url(BASE, ["a"], ["3"]),
    ]
    for url in made:
        assert url.startswith(f"{BASE}/#/"), url
        query = parse_qs(urlsplit(url).fragment.partition("?")[2])
        assert query["workflowType"] == ["machine_learning"], url
    assert made[1] == f"{BASE}/#/experiments/3/runs?workflowType=machine_learning"
    assert made[2] == f"{BASE}/#/experiments/3/runs/abc?workflowType=machine_learning"


def test_the_compare_url_carries_run_and_experiment_ids_as_encoded_json() -> None:
    run_ids = ["0a1b2c", "3d4e5f", "6a7b8c"]
    url = links.compare_url(BASE, run_ids, ["7"])
    path, _, query = urlsplit(url).fragment.partition("?")
    assert path == "/compare-runs"
    assert "[" not in query and '"' not in query  # encoded: survives copy and paste
    parsed = parse_qs(query)
    assert json.loads(parsed["runs"][0]) == run_ids
    assert json.loads(parsed["experiments"][0]) == ["7"]


def test_ui_base_prefers_the_configured_ui_then_a_tracking_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(links.UI_URL_ENV, raising=False)
    assert links.ui_base("sqlite:////tmp/mlflow.db") == links.DEFAULT_UI_URL
    assert links.ui_base("https://mlflow.example.org/") == "https://mlflow.example.org"
    monkeypatch.setenv(links.UI_URL_ENV, "http://ui:8000/")
    assert links.ui_base("https://mlflow.example.org") == "http://ui:8000"
