"""The one-machine cluster (``rmsweep.testing.cluster``) for the ``cluster`` tier: built once
per session (root only; the tests skip saying why otherwise), torn down even on failure.
``RMSWEEP_TEST_CLUSTER=reuse`` runs the tier on the one `python -m rmsweep.testing.cluster up`
made, and leaves it up."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from rmsweep.config import REPO_ROOT
from rmsweep.testing.cluster import Cluster, Hosts


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "nsenter", "unshare", "runuser"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    missing = _missing()
    if missing:
        pytest.skip(missing)
    if os.environ.get("RMSWEEP_TEST_CLUSTER") == "reuse":  # one that `cluster up` made, kept
        yield Cluster.load()
        return
    made = Cluster(checkout=REPO_ROOT).up()
    try:
        yield made
    finally:
        made.down()


@pytest.fixture(scope="session")
def hosts(cluster: Cluster) -> Hosts:
    return Hosts(cluster)
