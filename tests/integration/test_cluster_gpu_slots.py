"""GPU slot arithmetic across hosts (rmsweep.testing.cluster): two worker hosts of 4 logical
GPUs each, trials of the stand-in runner (``GpuJobRunner``) holding their GPUs the way veRL's
workers do. ``parallel: auto`` packs 2-GPU trials four at once over both hosts, runs trials of
2 nodes × 4 GPUs one at a time, each on both hosts, and fails at once a trial no pair of nodes
could hold. The arithmetic alone: tests/unit/test_gpu_slots.py. Needs root."""

from __future__ import annotations

import json

import pytest

from rmsweep.testing.cluster import Cluster, Hosts

pytestmark = pytest.mark.cluster

PLACEMENT_TIMEOUT_S = 60.0

# Runs on h1 (the controller's host): one study of the stand-in runner, printed as JSON.
STUDY = """
    import json, os
    from pathlib import Path
    import optuna
    from mlflow import MlflowClient
    from rmsweep.launch import RayLauncher
    from rmsweep.study import launch_study, parse_spec
    from rmsweep.testing import GpuJobRunner, SleepPlan
    from rmsweep.testing._gpu import PLACED_AT_METRIC, PLACED_ON_TAG
    from rmsweep.testing._sleep_job import ENDED_METRIC

    name, lines = {name!r}, []
    spec = parse_spec(
        f"name: {{name}}\\nbase: [device=cpu]\\n"
        "objective: {{metric: val/acc, direction: maximize}}\\n"
        "space:\\n  trainer.lr: {{type: float, low: 1.0e-4, high: 3.0e-3, log: true}}\\n"
        f"n_trials: {trials}\\n",
        source=f"{{name}}.yaml",
    )
    launcher = RayLauncher(os.environ["RAY_ADDRESS"], workdir=Path("/tmp/gpu-slots"))
    launch_study(
        spec,
        storage=os.environ["RMSWEEP_STORAGE"],
        runner=GpuJobRunner.factory(
            launcher=launcher,
            plan=lambda params: SleepPlan({{"val/acc": [0.1 * i for i in range(8)]}}, step_s=0.5),
            gpus_per_trial={gpus}, nnodes={nnodes}, placement_timeout_s={timeout},
        ),
        poll_s=0.2,
        echo=lines.append,
    )
    client = MlflowClient()
    study = optuna.load_study(study_name=name, storage=os.environ["RMSWEEP_STORAGE"])
    trials = []
    for t in study.trials:
        run = client.get_run(t.user_attrs["mlflow_run_id"]).data
        trials.append({{
            "state": t.state.name,
            "reason": t.user_attrs.get("rmsweep.reason"),
            "seconds": (t.datetime_complete - t.datetime_start).total_seconds(),
            "held": [run.metrics.get(PLACED_AT_METRIC), run.metrics.get(ENDED_METRIC)],
            "nodes": run.tags.get(PLACED_ON_TAG, ""),
        }})
    print(json.dumps({{"lines": lines, "trials": trials}}))
"""


def _study(hosts: Hosts, name: str, trials: int, gpus: int, nnodes: int) -> dict:
    code = STUDY.format(
        name=name, trials=trials, gpus=gpus, nnodes=nnodes, timeout=PLACEMENT_TIMEOUT_S
    )
    return dict(json.loads(hosts.python("h1", code).splitlines()[-1]))


def _peak_overlap(intervals: list[list[float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, step in events:  # at a tie the end sorts first: touching is not overlapping
        running += step
        peak = max(peak, running)
    return peak


def test_parallel_auto_packs_trials_as_the_hosts_allow(cluster: Cluster, hosts: Hosts) -> None:
    assert cluster.worker_gpus == 4 and len(cluster.worker_hosts) == 2
    workers = {h.ip for h in cluster.worker_hosts}

    pairs = _study(hosts, "two-gpu-trials", trials=4, gpus=2, nnodes=1)
    assert "study two-gpu-trials: 4 slot(s)" in pairs["lines"], pairs["lines"]
    assert [t["state"] for t in pairs["trials"]] == ["COMPLETE"] * 4, pairs
    assert _peak_overlap([t["held"] for t in pairs["trials"]]) == 4  # none waited
    assert {t["nodes"] for t in pairs["trials"]} == workers  # two on each host

    spanning = _study(hosts, "two-node-trials", trials=2, gpus=4, nnodes=2)
    assert "study two-node-trials: 1 slot(s)" in spanning["lines"], spanning["lines"]
    assert [t["state"] for t in spanning["trials"]] == ["COMPLETE"] * 2, spanning
    assert _peak_overlap([t["held"] for t in spanning["trials"]]) == 1
    for trial in spanning["trials"]:  # 8 GPUs: a group of 4 on each host
        assert set(trial["nodes"].split(",")) == workers, trial

    too_big = _study(hosts, "three-node-trial", trials=1, gpus=4, nnodes=3)
    (trial,) = too_big["trials"]
    assert trial["state"] == "FAIL"
    assert "needs 3 nodes with 4 GPUs each; the cluster has 2 such nodes" in trial["reason"]
    assert trial["seconds"] < PLACEMENT_TIMEOUT_S  # at once, not after waiting to be placed
