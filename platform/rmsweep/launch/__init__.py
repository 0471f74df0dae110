"""Ray job submission: each training run is one Ray job.

``RayLauncher`` talks to a cluster through Ray's job submission API, or starts a local Ray head
of its own for ``cluster=local``. ``rmsweep.run`` ties each job to its MLflow run. Importing
this package imports neither Ray nor MLflow.
"""

from __future__ import annotations

from rmsweep.launch._launcher import ADDRESS_FORMS, RayLauncher, job_failure
from rmsweep.launch._resources import (
    gpu_slots,
    node_shortfall,
    node_slots,
    placement_shortfall,
)

__all__ = [
    "ADDRESS_FORMS",
    "RayLauncher",
    "gpu_slots",
    "job_failure",
    "node_shortfall",
    "node_slots",
    "placement_shortfall",
]
