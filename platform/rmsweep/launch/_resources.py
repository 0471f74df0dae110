"""GPU arithmetic for trials: how many fit on a cluster now, and why one cannot be placed.

Pure functions on the numbers Ray reports (``ray.available_resources()``,
``ray.cluster_resources()``): the study controller sizes its slots with :func:`gpu_slots`, and a
job whose placement group cannot be placed reports :func:`placement_shortfall`.
"""

from __future__ import annotations


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
