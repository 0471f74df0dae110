"""A cluster of hosts that share no disk (rmsweep.testing.cluster): network and mount
namespaces on this machine, PostgreSQL and an MLflow server on a services host, a Ray head on
the controller's host, Ray workers on two more. Needs root; `make test-cluster` runs this tier."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from rmsweep.config import REPO_ROOT
from rmsweep.testing.cluster import SUBNET, Cluster, Hosts

pytestmark = pytest.mark.cluster


def test_hosts_share_nothing_but_their_services(cluster: Cluster, hosts: Hosts) -> None:
    probe = f"""
        import os, pathlib, importlib.util
        print(json.dumps({{
            "checkout": sorted(os.listdir({str(REPO_ROOT)!r})),
            "rmsweep": importlib.util.find_spec("rmsweep") is not None,
            "venv_writable": os.access({sys.prefix!r}, os.W_OK),
            "tmp": sorted(os.listdir("/tmp")),
        }}))
    """.replace("print(json", "import json; print(json")
    seen = {h: json.loads(hosts.python(h, probe)) for h in ("h1", "h2", "h3")}
    assert "platform" in seen["h1"]["checkout"] and seen["h1"]["rmsweep"]
    for worker in ("h2", "h3"):  # the node image: the environment, read-only, no checkout
        assert seen[worker]["checkout"] in ([], [".venv"])
        assert not seen[worker]["rmsweep"]  # the editable install points at the checkout
        assert not seen[worker]["venv_writable"]
    marker = f"rmsweep-{os.getpid()}"
    cluster.run("h2", ["touch", f"/tmp/{marker}"])
    assert marker not in json.loads(hosts.python("h3", probe))["tmp"]


def test_nothing_listens_outside_the_test_subnet_and_loopback(
    cluster: Cluster, hosts: Hosts
) -> None:
    for host in cluster.hosts:
        links = subprocess.run(
            ["ip", "-n", host.netns, "-o", "-4", "addr"], capture_output=True, text=True
        ).stdout
        addresses = {line.split()[3].split("/")[0] for line in links.splitlines()}
        assert addresses == {"127.0.0.1", host.ip}, host  # a wildcard bind reaches only these
        listening = subprocess.run(
            ["ip", "netns", "exec", host.netns, "ss", "-ltnH"], capture_output=True, text=True
        ).stdout
        for line in listening.splitlines():
            local = line.split()[3].rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
            assert local in ("*", "0.0.0.0", "::", "127.0.0.1", host.ip), (host, line)
            assert not local.startswith(SUBNET) or local == host.ip


def test_a_jobs_driver_runs_on_a_worker_host_not_the_head(cluster: Cluster, hosts: Hosts) -> None:
    code = """
        from pathlib import Path
        from rmsweep.launch import RayLauncher
        launcher = RayLauncher(__import__("os").environ["RAY_ADDRESS"], workdir=Path("/tmp/l"))
        hosts = set()
        for _ in range(2):
            job = launcher.submit("true", env={}, entrypoint_num_cpus=1.0)
            assert launcher.wait(job) == "SUCCEEDED"
            info = launcher._client().get_job_info(job)
            hosts.add(info.driver_agent_http_address.split("//")[1].rsplit(":", 1)[0])
        print(" ".join(sorted(hosts)))
    """
    hosts = set(hosts.python("h1", code).split())
    assert hosts and hosts <= {h.ip for h in cluster.worker_hosts}


def test_a_tracking_server_keeps_artifacts_that_another_host_reads(
    cluster: Cluster, hosts: Hosts
) -> None:
    code = """
        from rmsweep.config import compose
        from rmsweep.tracking import ensure_experiment, tracking_client
        cfg = compose(["experiment=served"])
        assert cfg.tracking.artifact_root is None, cfg.tracking.artifact_root
        client = tracking_client(cfg.tracking.uri)
        experiment = ensure_experiment(client, cfg.experiment, cfg.tracking.artifact_root)
        run = client.create_run(experiment)
        client.log_text(run.info.run_id, "made on h1", "proof/note.txt")
        client.set_terminated(run.info.run_id)
        print(client.get_experiment(experiment).artifact_location, run.info.run_id)
    """
    out = hosts.python("h1", code, RMSWEEP_HOME="/tmp/home")
    location, run_id = out.splitlines()[-1].split()
    assert location.startswith("mlflow-artifacts:")
    read = f"""
        from mlflow import MlflowClient
        path = MlflowClient().download_artifacts({run_id!r}, "proof/note.txt", "/tmp")
        print(open(path).read())
    """
    assert hosts.python("h3", read).splitlines()[-1] == "made on h1"


TRAIN = [
    "cluster=ray",
    "trainer.total_steps=2",
    "trainer.test_freq=2",
    "device.threads=1",
    "eval.rmbench=evalsets/synthetic-rmbench/synthetic_filtered.json",
    "eval.limit=20",
]


def test_a_run_trains_on_a_worker_and_another_host_reproduces_it(
    cluster: Cluster, hosts: Hosts
) -> None:
    out = hosts.rmsweep("h1", "run", "train", *TRAIN).stdout
    (run_id,) = re.findall(r"^run ([0-9a-f]{32}): complete", out, re.M)
    facts = f"""
        import json, os
        from mlflow import MlflowClient
        from ray.job_submission import JobSubmissionClient
        client = MlflowClient()
        run = client.get_run({run_id!r})
        job = JobSubmissionClient(os.environ["RAY_ADDRESS"]).get_job_info(run.data.tags["rmsweep.job_id"])
        model = client.download_artifacts({run_id!r}, "checkpoint", "/tmp/ckpt")
        print(json.dumps({{
            "inputs": sorted(a.path for a in client.list_artifacts({run_id!r}, "inputs")),
            "eval": run.data.metrics.get("eval/rmbench/avg"),
            "driver": job.driver_agent_http_address.split("//")[1].rsplit(":", 1)[0],
            "entrypoint": job.entrypoint,
            "model": sorted(os.listdir(model)),
        }}))
    """
    seen = json.loads(hosts.python("h3", facts).splitlines()[-1])
    assert seen["inputs"] == [
        "inputs/eval", "inputs/model", "inputs/train.parquet", "inputs/val.parquet"
    ]  # fmt: skip
    assert seen["eval"] is not None
    assert seen["driver"] in {h.ip for h in cluster.worker_hosts}
    assert str(REPO_ROOT) not in seen["entrypoint"] and "/tmp/home-h1" not in seen["entrypoint"]
    assert "config.json" in seen["model"] and "model.safetensors" in seen["model"]
    cluster.clone_checkout("h3")  # a user's clone on h3, which never saw h1's disk
    again = hosts.rmsweep("h3", "run", "reproduce", run_id).stdout
    assert "all " in again and " final metrics identical" in again, again[-2000:]


def test_a_study_launched_on_h1_runs_its_trials_on_the_workers(
    cluster: Cluster, hosts: Hosts
) -> None:
    quick = ["trainer.total_steps=2", "trainer.test_freq=2", "device.threads=1", "eval.limit=10"]
    hosts.rmsweep(
        "h1", "study", "launch", "sweeps/quickstart.yaml", "cluster=ray", *quick,
        "--trials", "2", "--name", "on-the-cluster",
    )  # fmt: skip
    compare = hosts.rmsweep("h1", "study", "compare", "on-the-cluster").stdout
    assert "eval/rmbench/avg" in compare or "rmbench" in compare
    facts = """
        import json, os
        from mlflow import MlflowClient
        from ray.job_submission import JobSubmissionClient
        client, jobs = MlflowClient(), JobSubmissionClient(os.environ["RAY_ADDRESS"])
        runs = client.search_runs(
            [client.get_experiment_by_name("on-the-cluster").experiment_id],
            "tags.`rmsweep.trial` != ''",
        )
        print(json.dumps([{
            "state": r.data.tags.get("rmsweep.state"),
            "driver": jobs.get_job_info(r.data.tags["rmsweep.job_id"]).driver_agent_http_address,
            "checkpoint": [a.path for a in client.list_artifacts(r.info.run_id, "checkpoint")],
        } for r in runs]))
    """
    trials = json.loads(hosts.python("h1", facts).splitlines()[-1])
    assert len(trials) == 2
    workers = {h.ip for h in cluster.worker_hosts}
    for trial in trials:
        assert trial["state"] == "complete"
        assert trial["driver"].split("//")[1].rsplit(":", 1)[0] in workers
        assert any(path.endswith("config.json") for path in trial["checkpoint"])
