"""A cluster of hosts that share no disk, on one Linux machine (root): for tests and for users.

Each host is a network namespace on a private test subnet (veth pairs on one bridge, no route
out) with a mount namespace of its own, in which its ``/tmp``, ``/dev/shm`` and home are
private tmpfs and, except on the controller's host, the checkout (with its ``.rmsweep/``) is
hidden; the Python environment stays visible, read-only, as a node image would have it.

- ``svc`` (10.231.0.2): PostgreSQL (databases ``optuna`` and ``mlflow``) and an MLflow
  server with ``--serve-artifacts`` (http://10.231.0.2:5055);
- ``h1`` (10.231.0.11): the Ray head (token auth) and the controller's working copy;
- ``h2``, ``h3``, …: Ray workers; each advertises the custom resources ``rmsweep_worker`` and
  ``host_<name>`` (to pin a job there), and logical GPUs for the stand-in runner;
- ``login`` (10.231.0.10): no Ray, no checkout until :meth:`Cluster.clone_checkout`: a
  second machine for a controller (``study launch --worker``) or a user.

Nothing listens outside the subnet and loopback. Every process is started inside a host's
namespaces, so :meth:`Cluster.down` (or :meth:`Cluster.kill_host`) ends them by namespace,
never with ``ray stop`` (which would end every Ray process of the machine).

    python -m rmsweep.testing.cluster up      # prints the environment a host's commands use
    python -m rmsweep.testing.cluster run h1 -- rmsweep study launch sweeps/quickstart.yaml cluster=ray
    python -m rmsweep.testing.cluster down
"""

from rmsweep.testing.cluster._cluster import STATE, SUBNET, Cluster, Host
from rmsweep.testing.cluster._hosts import Hosts

__all__ = ["STATE", "SUBNET", "Cluster", "Host", "Hosts"]
