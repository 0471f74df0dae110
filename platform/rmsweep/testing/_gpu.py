"""GpuJobRunner: sleep-job trials that first take GPUs on a Ray cluster the way veRL does.

veRL's workers hold a placement group per node, one ``{"CPU": 1, "GPU": 1}`` bundle per worker,
packed onto one node (``verl.single_controller.ray.base.RayResourcePool``) and wait for it with
no time limit. This job asks its cluster for the same (``--nnodes`` groups of ``--gpus``), fails
at once when no nodes of the cluster could ever hold them (``launch.node_shortfall``, e.g.
``needs 5 GPUs on one node; the cluster has 0 such nodes (the largest has 4 GPUs)``), else waits
at most ``--placement-timeout-s``, then either runs the sleep job while it holds the GPUs, or
fails with the one-line reason (``launch.placement_shortfall``). The reason is recorded on its
run as ``rmsweep.reason``, where the controller reads why a trial failed.
A cluster without GPUs can advertise logical ones: ``RayLauncher(None, num_gpus=4)``.

    python -m rmsweep.testing._gpu --gpus 2 --nnodes 1 --placement-timeout-s 30 -- CMD...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rmsweep.testing._plan import PlanFn, SleepPlan, default_plan
from rmsweep.testing._runner import SleepJobRunner

if TYPE_CHECKING:
    from omegaconf import DictConfig

MODULE = "rmsweep.testing._gpu"
PLACED_AT_METRIC = "gpujob/placed_at"  # epoch seconds when its GPUs were granted
PLACEMENT_WAIT_METRIC = "gpujob/placement_wait_s"  # from asking for them to getting them
PLACED_ON_TAG = "gpujob.nodes"  # the IPs of the nodes its GPUs are on, one per group


class GpuJobRunner(SleepJobRunner):
    """A :class:`SleepJobRunner` whose trials each hold ``gpus_per_trial`` GPUs while they run.

    Needs a ``RayLauncher``: the GPUs are Ray's. ``free_slots`` sizes a study's
    ``parallel: auto`` from the cluster's free GPUs, as ``VerlTrialRunner`` does.

    Args:
        gpus_per_trial: GPUs one trial takes on each of its nodes (one bundle each, like one
            veRL worker each), packed onto one node.
        nnodes: nodes one trial spans (``device.nnodes``).
        placement_timeout_s: how long a trial waits for its GPUs before it fails.
        **kwargs: :class:`SleepJobRunner`'s arguments.
    """

    def __init__(
        self,
        *,
        gpus_per_trial: int = 1,
        nnodes: int = 1,
        placement_timeout_s: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gpus_per_trial = gpus_per_trial
        self.nnodes = nnodes
        self.placement_timeout_s = placement_timeout_s

    @classmethod
    def factory(
        cls,
        *,
        launcher: str | Any = "ray",
        plan: PlanFn = default_plan,
        gpus_per_trial: int = 1,
        nnodes: int = 1,
        placement_timeout_s: float = 30.0,
    ) -> Callable[[Any, DictConfig, list[str]], GpuJobRunner]:
        """A runner factory for ``launch_study`` (``launcher`` as in ``SleepJobRunner.factory``)."""
        build = super().factory(launcher=launcher, plan=plan)

        def build_gpu(ctx: Any, cfg: DictConfig, base: list[str]) -> GpuJobRunner:
            runner = build(ctx, cfg, base)
            assert isinstance(runner, GpuJobRunner)
            runner.gpus_per_trial = gpus_per_trial
            runner.nnodes = nnodes
            runner.placement_timeout_s = placement_timeout_s
            return runner

        return build_gpu

    def _command(self, plan: SleepPlan) -> list[str]:
        return [
            sys.executable, "-m", MODULE,
            "--gpus", str(self.gpus_per_trial), "--nnodes", str(self.nnodes),
            "--placement-timeout-s", str(self.placement_timeout_s),
            "--", *super()._command(plan),
        ]  # fmt: skip

    def free_slots(self) -> int | None:
        from rmsweep.capacity import cluster_resources as reported
        from rmsweep.launch import gpu_slots, node_slots
        from rmsweep.study._runner import cluster_resources

        found = reported(self.launcher)  # node by node, where the dashboard says
        if found is not None and found.gpus_free:
            return node_slots(found.gpus_free, self.gpus_per_trial, self.nnodes)
        free = cluster_resources(self.launcher).get("GPU", 0.0)
        return gpu_slots(free, self.gpus_per_trial * self.nnodes)


def main(argv: list[str] | None = None) -> int:
    """Take the GPUs, run the command while holding them; or fail with why they were not had."""
    parser = argparse.ArgumentParser(prog=MODULE)
    parser.add_argument("--gpus", type=int, required=True)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--placement-timeout-s", type=float, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    import logging

    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    from rmsweep.launch import node_shortfall

    ray.init(logging_level=logging.ERROR)  # the job's own cluster (the job supervisor says which)
    nodes = [n["Resources"].get("GPU", 0.0) for n in ray.nodes() if n["Alive"]]
    never = node_shortfall(nodes, args.gpus, args.nnodes)
    if never:  # no waiting for what could never be placed
        return _fail(never)
    bundles = [{"CPU": 1, "GPU": 1} for _ in range(args.gpus)]
    asked = time.monotonic()
    # One group per node, each packed onto one node, as veRL's resource pool asks.
    groups = [placement_group(bundles, strategy="STRICT_PACK") for _ in range(args.nnodes)]
    deadline = asked + args.placement_timeout_s
    if not all(g.wait(timeout_seconds=max(0.0, deadline - time.monotonic())) for g in groups):
        reason = _unplaced(args.gpus * args.nnodes, args.placement_timeout_s)
        for group in groups:
            remove_placement_group(group)
        return _fail(reason)
    _record(
        metrics={PLACED_AT_METRIC: time.time(), PLACEMENT_WAIT_METRIC: time.monotonic() - asked},
        tags={PLACED_ON_TAG: ",".join(_nodes_of(groups))},
    )
    code = subprocess.call(command)
    for group in groups:
        remove_placement_group(group)
    return code


def _fail(reason: str) -> int:
    _record(reason=reason)
    print(reason, file=sys.stderr, flush=True)
    return 1


def _unplaced(gpus: int, timeout_s: float) -> str:
    import ray

    from rmsweep.launch import placement_shortfall

    free = ray.available_resources().get("GPU", 0.0)
    total = ray.cluster_resources().get("GPU", 0.0)
    # Enough GPUs free yet not placed: CPUs are short, or no single node has them all.
    return placement_shortfall(gpus, free, total) or (
        f"{gpus} GPU bundles were not placed on one node within {timeout_s:g}s"
    )


def _nodes_of(groups: list[Any]) -> list[str]:
    """The IPs of the nodes each group's bundles were placed on, group by group."""
    import ray
    from ray.util.placement_group import placement_group_table

    ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
    nodes = []
    for group in groups:
        placed = placement_group_table(group).get("bundles_to_node_id", {})
        nodes += sorted({ips.get(node, node) for node in placed.values()})
    return nodes


def _record(
    *,
    reason: str | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Into the trial's run (``$MLFLOW_RUN_ID``), when the job has one."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    from mlflow import MlflowClient

    from rmsweep import names

    client = MlflowClient(os.environ.get("MLFLOW_TRACKING_URI"))
    if reason is not None:
        client.set_tag(run_id, names.TAG_REASON, reason)
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, key, value)
    for key, text in (tags or {}).items():
        client.set_tag(run_id, key, text)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # no wait for Ray's and MLflow's exit handlers
