"""GPU arithmetic for trials: how many fit on a cluster now, and why one cannot be placed.

Pure functions on the numbers Ray reports, in all or per node: the study controller sizes its
slots with :func:`gpu_slots` (or :func:`node_slots` where it knows each node's), a job whose
placement group cannot be placed reports :func:`placement_shortfall`, and a trial no set of
nodes could ever hold is refused with :func:`node_shortfall`.
"""

from __future__ import annotations

from collections.abc import Sequence


def gpu_slots(free_gpus: float, gpus_per_trial: int) -> int:
    """How many trials of ``gpus_per_trial`` GPUs each fit in ``free_gpus`` at once.

    ⌊free ÷ per trial⌋, so no trial waits on another's placement group; 0 when not even one
    fits now (Ray reports fractional GPUs: 3.5 free GPUs hold three 1-GPU trials).

    Raises:
        ValueError: ``gpus_per_trial`` is below 1.
    """
    if gpus_per_trial < 1:
        raise ValueError(f"a trial takes at least 1 GPU, not {gpus_per_trial}")
    return max(0, int(free_gpus // gpus_per_trial))


def node_slots(free_per_node: Sequence[float], gpus_per_node: int, nnodes: int = 1) -> int:
    """How many trials of ``nnodes`` × ``gpus_per_node`` GPUs fit at once on nodes with these
    free GPUs: veRL packs each node's share of a trial onto one node, and a trial's shares on
    distinct nodes. Two nodes with 4 free hold four 2-GPU trials, or one 2 × 4-GPU trial.

    Raises:
        ValueError: ``gpus_per_node`` or ``nnodes`` is below 1.
    """
    if gpus_per_node < 1 or nnodes < 1:
        raise ValueError(f"a trial takes at least 1 GPU on 1 node, not {gpus_per_node} × {nnodes}")
    shares = [int(free // gpus_per_node) for free in free_per_node]  # shares each node holds
    # k trials fit when the nodes hold n·k shares with no node giving one trial two of them.
    trials = sum(shares) // nnodes
    while trials and sum(min(share, trials) for share in shares) < nnodes * trials:
        trials -= 1
    return trials


def node_shortfall(total_per_node: Sequence[float], gpus_per_node: int, nnodes: int) -> str | None:
    """Why a trial of ``nnodes`` × ``gpus_per_node`` GPUs can never be placed on nodes with
    these GPUs in all, in one line (None when it can): no node, or too few, that large."""
    fitting = sum(total >= gpus_per_node for total in total_per_node)
    if fitting >= nnodes:
        return None
    largest = _number(max(total_per_node, default=0.0))
    share = f"{gpus_per_node} GPU{'s' if gpus_per_node > 1 else ''}"
    wants = f"{nnodes} nodes with {share} each" if nnodes > 1 else f"{share} on one node"
    return f"needs {wants}; the cluster has {fitting} such node{'s' * (fitting != 1)} (the largest has {largest} GPUs)"


def placement_shortfall(
    needed: float, free: float, total: float, resource: str = "GPU"
) -> str | None:
    """Why ``needed`` units of ``resource`` cannot be placed now, in one line; None if they can.

    Example: ``needs 2 GPUs; the cluster has 1 free (4 in all)``, or ``needs 5 GPUs; the
    cluster has 4 in all`` when it never could.
    """
    if needed <= free:
        return None
    unit = resource if needed == 1 else f"{resource}s"
    if needed > total:
        return f"needs {_number(needed)} {unit}; the cluster has {_number(total)} in all"
    return (
        f"needs {_number(needed)} {unit}; the cluster has {_number(free)} free "
        f"({_number(total)} in all)"
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
