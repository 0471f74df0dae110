"""A study across hosts that share no disk, against the same study on one host, same run.

Builds the one-machine cluster (``rmsweep.testing.cluster``; root), then launches the
quickstart study (N trials, 2 steps each) twice from h1, the controller's host, with the same
tracking server and Optuna database: ``cluster=local`` (a Ray head on h1 itself; jobs read h1's
disk) and ``cluster=ray`` (jobs on the worker hosts, their code and inputs shipped through the
run). Printed per trial and as the cluster's ratio to one host:

- overhead: the trial's time in Optuna less the time between the first and the last metric
  its run logged (preparing, recording, shipping the inputs, submitting, the job's start,
  keeping the model, telling);
- run created → first step: from the MLflow run's creation, just before its inputs are logged
  and its job submitted, to its first metric (shipping, runtime env set-up, fetching the
  inputs, veRL's start);
- bytes moved: the run's ``inputs/`` artifacts (what the job fetched) and its ``checkpoint/``.

Run (root): .venv/bin/python benchmarks/cluster.py [--trials 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from rmsweep.config import REPO_ROOT
from rmsweep.testing.cluster import Cluster, Hosts

QUICK = ["trainer.total_steps=2", "trainer.test_freq=2", "device.threads=1", "eval.limit=10"]

# Runs on h1: each trial's figures from its records (Optuna, MLflow), as JSON.
FIGURES = """
    import json, os
    import optuna
    from mlflow import MlflowClient

    def size(client, run, path):
        total = 0
        for item in client.list_artifacts(run, path):
            total += size(client, run, item.path) if item.is_dir else (item.file_size or 0)
        return total

    client = MlflowClient()
    study = optuna.load_study(study_name={study!r}, storage=os.environ["RMSWEEP_STORAGE"])
    rows = []
    for t in study.trials:
        run_id = t.user_attrs["mlflow_run_id"]
        run = client.get_run(run_id)
        stamps = [
            p.timestamp for key in run.data.metrics for p in client.get_metric_history(run_id, key)
        ]
        trial_s = (t.datetime_complete - t.datetime_start).total_seconds()
        rows.append({{
            "state": t.state.name,
            "trial_s": trial_s,
            "to_first_step_s": (min(stamps) - run.info.start_time) / 1000,
            "overhead_s": trial_s - (max(stamps) - min(stamps)) / 1000,
            "inputs_bytes": size(client, run_id, "inputs"),
            "checkpoint_bytes": size(client, run_id, "checkpoint"),
            "node": run.data.tags.get("rmsweep.node"),
        }})
    print(json.dumps(rows))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks/cluster.py needs root (network and mount namespaces)", file=sys.stderr)
        return 2
    cluster = Cluster(checkout=REPO_ROOT)
    started = time.monotonic()
    cluster.up()
    try:
        print(f"cluster up in {time.monotonic() - started:.0f} s")
        hosts = Hosts(cluster)
        results = {}
        for where, overrides in (("one host", ["cluster=local"]), ("cluster", ["cluster=ray"])):
            name = "bench-" + where.replace(" ", "-")
            hosts.rmsweep(
                "h1", "study", "launch", "sweeps/quickstart.yaml", *overrides, *QUICK,
                "--trials", str(args.trials), "--name", name,
            )  # fmt: skip
            code = FIGURES.format(study=name)
            results[where] = json.loads(hosts.python("h1", code).splitlines()[-1])
        report(results)
    finally:
        cluster.down()
    return 0


def report(results: dict[str, list[dict[str, float | str | None]]]) -> None:
    keys = ("trial_s", "overhead_s", "to_first_step_s", "inputs_bytes", "checkpoint_bytes")
    means: dict[str, dict[str, float]] = {}
    for where, rows in results.items():
        print(f"\n{where}: {len(rows)} trials, states {[r['state'] for r in rows]}")
        for row in rows:
            print("  " + ", ".join(f"{k}={row[k]}" for k in (*keys, "node")))
        means[where] = {k: statistics.fmean(float(r[k] or 0) for r in rows) for k in keys}
    one, many = means["one host"], means["cluster"]
    print("\nmean per trial          one host     cluster   cluster ÷ one host")
    for key in keys:
        ratio = f"{many[key] / one[key]:.2f}×" if one[key] else "—"
        print(f"  {key:<20}{one[key]:>12.1f}{many[key]:>12.1f}   {ratio}")


if __name__ == "__main__":
    sys.exit(main())
