"""GPU slots: ⌊free GPUs ÷ GPUs per trial⌋, and the one line a trial that cannot be placed
fails with. The same arithmetic on a real Ray head with logical GPUs:
tests/integration/test_gpu_slots.py."""

from __future__ import annotations

import pytest

from rmsweep.launch import gpu_slots, node_shortfall, node_slots, placement_shortfall
from rmsweep.verl_cpu import cpu_env


@pytest.mark.parametrize(
    ("free", "per_trial", "slots"),
    [
        (4, 1, 4),
        (4, 2, 2),
        (4, 3, 1),
        (4, 4, 1),
        (4, 5, 0),  # not one fits: the trial that runs anyway fails with the reason
        (0, 1, 0),
        (3.5, 1, 3),  # Ray reports fractional GPUs when a task holds a fraction
        (7.0, 2, 3),
        (8, 8, 1),
    ],
)
def test_slots_are_free_gpus_floor_divided_by_gpus_per_trial(
    free: float, per_trial: int, slots: int
) -> None:
    assert gpu_slots(free, per_trial) == slots


def test_a_trial_takes_at_least_one_gpu() -> None:
    with pytest.raises(ValueError, match="at least 1 GPU"):
        gpu_slots(4, 0)


@pytest.mark.parametrize(
    ("needed", "free", "total", "reason"),
    [
        (2, 1, 4, "needs 2 GPUs; the cluster has 1 free (4 in all)"),
        (1, 0, 4, "needs 1 GPU; the cluster has 0 free (4 in all)"),
        (5, 4, 4, "needs 5 GPUs; the cluster has 4 in all"),
        (1, 0, 0, "needs 1 GPU; the cluster has 0 in all"),
        (2, 1.5, 4, "needs 2 GPUs; the cluster has 1.5 free (4 in all)"),
    ],
)
def test_a_trial_that_cannot_be_placed_says_why_in_one_line(
    needed: float, free: float, total: float, reason: str
) -> None:
    assert placement_shortfall(needed, free, total) == reason
    assert "\n" not in reason


@pytest.mark.parametrize(("needed", "free"), [(2, 2), (2, 4.0), (1, 1.5)])
def test_a_trial_that_fits_has_no_shortfall(needed: float, free: float) -> None:
    assert placement_shortfall(needed, free, total=8) is None


def test_other_resources_are_named() -> None:
    assert placement_shortfall(16, 2, 8, "CPU") == "needs 16 CPUs; the cluster has 8 in all"


def test_the_private_ray_of_a_cpu_job_binds_loopback_only() -> None:
    # What tests/integration/test_ray_loopback.py checks on the sockets, set where the job's
    # environment is made; a GPU job joins its cluster's Ray and must not get it.
    assert cpu_env("cpu")["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "off"
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in cpu_env("gpu")


@pytest.mark.parametrize(
    ("free_per_node", "gpus_per_node", "nnodes", "slots"),
    [
        ([4, 4], 2, 1, 4),  # two on each host
        ([4, 4], 3, 1, 2),  # one per host: 8 ÷ 3 would say 2 as well, by luck
        ([4, 2], 3, 1, 1),  # 6 free, yet only one node holds 3
        ([4, 4], 4, 2, 1),  # one trial spanning both hosts
        ([4, 2], 4, 2, 0),  # 6 free, but the second node cannot take its share
        ([8, 4, 4], 4, 2, 2),  # 4 shares: one node gives at most one per trial
        ([8, 4], 4, 2, 1),  # 3 shares, but only two nodes
        ([], 1, 1, 0),
    ],
)
def test_node_slots_pack_each_trials_share_onto_one_node(
    free_per_node: list[float], gpus_per_node: int, nnodes: int, slots: int
) -> None:
    assert node_slots(free_per_node, gpus_per_node, nnodes) == slots


def test_a_trial_no_nodes_could_ever_hold_says_why() -> None:
    assert node_shortfall([4, 4], 4, 2) is None
    assert node_shortfall([4, 4], 5, 1) == (
        "needs 5 GPUs on one node; the cluster has 0 such nodes (the largest has 4 GPUs)"
    )
    assert node_shortfall([8, 4], 8, 2) == (
        "needs 2 nodes with 8 GPUs each; the cluster has 1 such node (the largest has 8 GPUs)"
    )
    with pytest.raises(ValueError, match="at least 1 GPU on 1 node"):
        node_slots([4], 1, 0)
