"""The conftest guard, run by pytest in a subprocess on a sample: a test that leaves an MLflow
run RUNNING or an active run open fails; one marked leaves_mlflow_run_running does not."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

LEAKY = """
import mlflow
import pytest
from mlflow import MlflowClient


def store(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client, client.create_experiment("e")


def test_leaves_a_run_running(tmp_path):
    client, experiment = store(tmp_path)
    client.create_run(experiment, run_name="left")


@pytest.mark.leaves_mlflow_run_running
def test_a_crash_on_purpose(tmp_path):
    client, experiment = store(tmp_path)
    client.create_run(experiment, run_name="crashed")


def test_ends_its_run(tmp_path):
    client, experiment = store(tmp_path)
    client.set_terminated(client.create_run(experiment).info.run_id)


def test_leaves_an_active_run(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'fluent.db'}")
    mlflow.start_run()


def test_after_it_no_run_is_active():
    assert mlflow.active_run() is None
"""


def test_runs_left_running_or_active_fail_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmarkers = ["leaves_mlflow_run_running: on purpose"]\n'
    )
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_run_running*",
            "MLflow runs left RUNNING in sqlite:///*/mlflow.db: * (left)",
            "*ERROR at teardown of test_leaves_an_active_run*",
            "an active MLflow run was left open: *",
        ]
    )
