"""What a cluster holds and what a job needs of it: a job that could never be placed fails
before anything is created, and a waiting run says what it waits for.

Read from the Ray dashboard's ``/api/cluster_status`` (in all, free, asked for by waiting work,
and GPUs node by node): a GPU job of ``gpus_per_node`` × ``nnodes`` needs that many nodes each
with that many GPUs, as veRL packs each node's workers onto one node.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rmsweep.errors import LaunchError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.launch import RayLauncher

RAY_TIMEOUT_S = 3.0
# Ray's autoscaler monitor reports the cluster's resources every ~5 s; a head just started
# has not reported yet.
RESOURCES_WAIT_S = 15.0


@dataclass(frozen=True)
class ClusterResources:
    """A cluster's logical resources: in total, free now, and asked for by work that waits."""

    total: dict[str, float]
    free: dict[str, float]
    pending: dict[str, float] = field(default_factory=dict)
    # Per node, where the dashboard says (Ray's usageByNode): its GPUs free and in all.
    gpus_free: list[float] = field(default_factory=list)
    gpus_total: list[float] = field(default_factory=list)


def parse_cluster_status(data: Mapping[str, Any]) -> ClusterResources | None:
    """Resources from the dashboard's ``/api/cluster_status`` answer (None before the
    autoscaler's first report)."""
    report = ((data.get("data") or {}).get("clusterStatus") or {}).get("loadMetricsReport") or {}
    usage = report.get("usage") or {}
    if not usage:
        return None
    total = {k: float(v[1]) for k, v in usage.items()}
    free = {k: float(v[1]) - float(v[0]) for k, v in usage.items()}
    pending: dict[str, float] = {}
    demands = list(report.get("resourceDemand") or [])
    for group, count in report.get("pgDemand") or []:
        demands += [(bundle, n * count) for bundle, n in group.get("bundles", [])]
    for bundle, count in demands:
        for key, amount in bundle.items():
            pending[key] = pending.get(key, 0.0) + float(amount) * count
    nodes = (report.get("usageByNode") or {}).values()
    gpus = [
        (float(n["GPU"][1]) - float(n["GPU"][0]), float(n["GPU"][1])) for n in nodes if "GPU" in n
    ]
    return ClusterResources(total, free, pending, [g[0] for g in gpus], [g[1] for g in gpus])


def cluster_resources(
    launcher: RayLauncher, wait_s: float = RESOURCES_WAIT_S
) -> ClusterResources | None:
    """The launcher's cluster resources, read from its dashboard (a local head is started).

    None when the cluster is not reached over HTTP (``ray://``, a GCS address) or reports
    nothing within ``wait_s``: then nothing can be said about its resources.
    """
    url = launcher.connect()
    if url is None:
        return None
    headers = {"Authorization": f"Bearer {launcher.auth_token}"} if launcher.auth_token else {}
    deadline = time.monotonic() + wait_s
    while True:
        request = urllib.request.Request(f"{url.rstrip('/')}/api/cluster_status", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=RAY_TIMEOUT_S) as answer:
                found = parse_cluster_status(json.load(answer))
        except (OSError, ValueError):
            found = None
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def job_resources(cfg: DictConfig, stage: str = "grpo") -> dict[str, float]:
    """The cluster resources a run's job asks for: a GPU job's GPUs (veRL places
    ``gpus_per_node × nnodes`` workers; the SFT trainer is one process on one GPU); a CPU job
    asks for none: on the local head, which is sized for it, its veRL takes a logical GPU
    (``rmsweep.verl_cpu.head_resources``); elsewhere it starts a Ray of its own."""
    if cfg.device.name != "gpu":
        return {}
    if stage == "sft":
        return {"GPU": 1.0}
    return {"GPU": float(cfg.device.gpus_per_node) * float(cfg.device.nnodes)}


def job_shape(cfg: DictConfig, stage: str = "grpo") -> tuple[int, int] | None:
    """A GPU job's (GPUs per node, nodes): veRL packs each node's workers onto one node."""
    if cfg.device.name != "gpu":
        return None
    return (1, 1) if stage == "sft" else (int(cfg.device.gpus_per_node), int(cfg.device.nnodes))


def check_fits(
    needs: Mapping[str, float],
    cluster: ClusterResources | None,
    where: str,
    shape: tuple[int, int] | None = None,
) -> None:
    """Every resource the job needs exists on the cluster in that amount, in total, and its
    ``shape`` (GPUs per node, nodes) on that many nodes.

    Raises:
        LaunchError: e.g. ``the job needs 1 GPU; the cluster has 0 in all (at …)``.
    """
    from rmsweep.launch import node_shortfall, placement_shortfall

    if cluster is None:
        return
    if shape and cluster.gpus_total and (short := node_shortfall(cluster.gpus_total, *shape)):
        raise LaunchError(f"the job {short} (at {where}), so it could never start")
    for key, amount in needs.items():
        total = cluster.total.get(key, 0.0)
        if amount > total:
            short = placement_shortfall(amount, cluster.free.get(key, 0.0), total, key)
            fix = "use device=cpu, or a cluster with GPUs (cluster=ray)" if key == "GPU" else ""
            raise LaunchError(
                f"the job {short} (at {where}), so it could never start"
                + (f": {fix}" if fix else "")
            )


def waiting_for(needs: Mapping[str, float], cluster: ClusterResources | None) -> str | None:
    """``waiting: the job needs 1 GPU; the cluster has 0 free (1 in all)`` when the cluster
    has work waiting for a resource this job needs and not enough of it is free; else None."""
    from rmsweep.launch import placement_shortfall

    if cluster is None:
        return None
    for key, amount in needs.items():
        if cluster.pending.get(key, 0.0) <= 0:
            continue
        total = cluster.total.get(key, 0.0)
        short = placement_shortfall(amount, cluster.free.get(key, 0.0), total, key)
        if short:
            return f"waiting: the job {short}"
    return None


def check_job(cfg: DictConfig, launcher: RayLauncher, stage: str = "grpo") -> None:
    """The run's job fits the launcher's cluster at all (nothing to judge for a CPU job)."""
    needs = job_resources(cfg, stage)
    if needs:
        where = launcher.dashboard_url or launcher.address or "the local Ray"
        check_fits(needs, cluster_resources(launcher), where, job_shape(cfg, stage))
