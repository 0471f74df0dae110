"""Hosts lost mid-study on the one-machine cluster (rmsweep.testing.cluster): a worker host
whose trial fails naming it and is retried on the other one, and a controller's host whose
trials another host's `--worker` adopts. Needs root; `make test-cluster` runs this tier.
Last in the tier (by file name, and the worker host last within it): a host brought back
after a kill is a new Ray node, and the tests before rely on the hosts as `up` made them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rmsweep.testing.cluster import Cluster, Hosts

pytestmark = pytest.mark.cluster

QUICK = [
    "cluster=ray", "trainer.total_steps=2", "trainer.test_freq=2", "device.threads=1",
    "eval.limit=10", "--trials", "1",
]  # fmt: skip

# Prints the node of the study's first running trial once its job runs there (the run's
# rmsweep.node tag, recorded when the job is seen RUNNING).
RUNNING_ON = """
    import time
    from mlflow import MlflowClient
    client, deadline = MlflowClient(), time.monotonic() + 300
    while time.monotonic() < deadline:
        experiment = client.get_experiment_by_name({study!r})
        runs = [] if experiment is None else client.search_runs(
            [experiment.experiment_id], "tags.`rmsweep.node` != ''"
        )
        if runs:
            print(runs[0].data.tags["rmsweep.node"])
            break
        time.sleep(1)
"""

RUNS = """
    from mlflow import MlflowClient
    client = MlflowClient()
    experiment = client.get_experiment_by_name({study!r}).experiment_id
    print(len(client.search_runs([experiment], "tags.`rmsweep.trial` != ''")))
"""

TRIALS = """
    import json, optuna, os
    from mlflow import MlflowClient
    client = MlflowClient()
    study = optuna.load_study(study_name={study!r}, storage=os.environ["RMSWEEP_STORAGE"])
    print(json.dumps([{{
        "state": t.state.name,
        "reason": t.user_attrs.get("rmsweep.reason"),
        "run": (run := client.get_run(t.user_attrs["mlflow_run_id"])).info.status,
        "node": run.data.tags.get("rmsweep.node"),
        "adopted": run.data.tags.get("rmsweep.adopted"),
        "job": run.data.tags.get("rmsweep.job_id"),
    }} for t in study.trials]))
"""


def _trials(hosts: Hosts, study: str) -> list[dict[str, str | None]]:
    out = hosts.python("h1", TRIALS.format(study=study))
    return list(json.loads(out.splitlines()[-1]))


def _launch_until_running(
    cluster: Cluster, hosts: Hosts, host: str, study: str, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """The quickstart study launched on ``host`` in the background, once its first trial's
    job runs: the controller's process and the worker host's address the job runs on."""
    launch = hosts.start_rmsweep(
        host, "study", "launch", "sweeps/quickstart.yaml", *QUICK, "--name", study, log=str(log)
    )
    node = hosts.python("h1", RUNNING_ON.format(study=study))
    assert node in {h.ip for h in cluster.worker_hosts}, log.read_text()[-3000:]
    return launch, node


def _doctor_agrees(hosts: Hosts, study: str) -> None:
    done = hosts.rmsweep("h1", "study", "doctor", study, ok=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_another_host_adopts_the_trials_of_a_lost_controllers_host(
    cluster: Cluster, hosts: Hosts, tmp_path: Path
) -> None:
    study = "lost-controller"
    cluster.clone_checkout("login")  # a second machine with the user's clone
    launch, node = _launch_until_running(cluster, hosts, "login", study, tmp_path / "launch.log")
    cluster.kill_host("login")  # the controller's whole host, at once
    assert launch.wait(timeout=60) != 0
    adopt = hosts.rmsweep(
        "h1", "study", "launch", "sweeps/quickstart.yaml", *QUICK, "--name", study, "--worker"
    )
    assert "adopted" in adopt.stdout, adopt.stdout[-3000:]
    (trial,) = _trials(hosts, study)  # nothing run twice
    assert trial["state"] == "COMPLETE" and trial["run"] == "FINISHED", trial
    assert trial["adopted"] and trial["node"] == node
    runs = hosts.python("h1", RUNS.format(study=study))
    assert runs.splitlines()[-1] == "1"  # one run, one job: the adopted one ran once
    _doctor_agrees(hosts, study)


def test_a_lost_worker_host_fails_its_trial_which_runs_again_on_the_other(
    cluster: Cluster, hosts: Hosts, tmp_path: Path
) -> None:
    study = "lost-worker"
    launch, lost = _launch_until_running(cluster, hosts, "h1", study, tmp_path / "launch.log")
    lost_host = next(h.name for h in cluster.worker_hosts if h.ip == lost)
    try:
        cluster.kill_host(lost_host)
        assert launch.wait(timeout=900) == 0, (tmp_path / "launch.log").read_text()[-3000:]
    finally:
        cluster.rejoin(lost_host)  # the host comes back for the tests after this one
    first, again = _trials(hosts, study)
    assert first["state"] == "FAIL" and first["run"] == "FAILED"
    assert f"its node {lost} was lost" in str(first["reason"]), first
    assert again["state"] == "COMPLETE" and again["run"] == "FINISHED"
    assert again["node"] not in (None, lost), again  # retried on the other host
    _doctor_agrees(hosts, study)
