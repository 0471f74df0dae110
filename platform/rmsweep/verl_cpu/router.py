"""A rollout load balancer that imports no veRL: the least busy server of the pool.

veRL starts its load balancer as a Ray actor whose process imports veRL (torch,
transformers: ~5 s of CPU and ~400 MB here) to route requests among rollout replicas. A
CPU run has one replica and its agent-loop workers ask once
(:class:`rmsweep.verl_cpu.agent_manager.OneServerClient`), so that process would cost the
start-up its CPU for nothing. This class meets veRL's ``RequestLoadBalancer`` protocol
(``verl.workers.rollout.router``) with plain Python; veRL loads it as a router plugin from
``router.yaml`` (``actor_rollout_ref.rollout.router_config_path``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class LeastBusyRouter:
    """Route each request to the server with the fewest requests in flight (no stickiness).

    Args:
        servers: ``{server_id: actor_handle}``, as veRL passes them.
        config: The router YAML's contents (unused beyond ``router_class``).
    """

    def __init__(self, servers: Mapping[str, Any], config: Mapping[str, Any] | None = None):
        self._servers: dict[str, Any] = dict(servers)
        self._inflight: dict[str, int] = {server_id: 0 for server_id in servers}

    def require_acquire_fields(self) -> list[str]:
        return []

    def require_release_fields(self) -> list[str]:
        return []

    def acquire_server(self, request_id: str, **extra: Any) -> tuple[str, Any]:
        if not self._inflight:
            raise RuntimeError("no rollout server is registered with the load balancer")
        server_id = min(self._inflight, key=self._inflight.__getitem__)
        self._inflight[server_id] += 1
        return server_id, self._servers[server_id]

    def release_server(self, server_id: str, request_id: str | None = None) -> None:
        if self._inflight.get(server_id, 0) > 0:
            self._inflight[server_id] -= 1

    def add_servers(self, servers: Mapping[str, Any]) -> None:
        for server_id, handle in servers.items():
            self._servers[server_id] = handle
            self._inflight.setdefault(server_id, 0)

    def remove_servers(self, server_ids: list[str]) -> None:
        for server_id in server_ids:
            self._servers.pop(server_id, None)
            self._inflight.pop(server_id, None)

    def get_all_servers(self) -> list[str]:
        return list(self._servers)

    def get_status(self) -> dict[str, Any]:
        return {
            "servers": dict(self._inflight),
            "total_inflight": self.get_total_inflight(),
            "active_servers": len(self._inflight),
            "registered_handles": list(self._servers),
        }

    def clear_sticky_cache(self) -> dict[str, Any]:
        return {"cleared_entries": 0, "server_loads": dict(self._inflight)}

    def get_total_inflight(self) -> int:
        return sum(self._inflight.values())
