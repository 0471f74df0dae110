"""veRL-side classes of the ``hf`` rollout: the replica that starts the server, and the
worker-side adapter that syncs the trainer's weights into it; and :func:`start_server_early`,
which starts a one-replica run's server while veRL still builds the trainer."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica

from rmsweep.verl_cpu.rollout_server import HFRolloutServer

ROLLOUT_NAME = "hf"

# Servers started by start_server_early, by actor name, until their replica adopts them.
_early_servers: dict[str, Any] = {}


def server_actor_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    """Ray actor name of a replica's server (``kind`` is '', 'reward' or 'teacher')."""
    middle = f"{kind}_" if kind else ""
    return f"{ROLLOUT_NAME}_server_{middle}{replica_rank}_0{suffix}"


def _worker_placement(worker_self: Any) -> tuple[str, list[str]]:
    """Run inside a trainer worker: its node id and the accelerator ids Ray gave it."""
    from verl.utils.device import get_resource_name

    ctx = ray.get_runtime_context()
    return ctx.get_node_id(), [
        str(i) for i in ctx.get_accelerator_ids().get(get_resource_name(), [])
    ]


class HFReplica(RolloutReplica):
    """One ``hf`` server per replica, placed on the node of the replica's first worker."""

    async def launch_servers(self) -> None:
        from verl.plugin.platform import get_platform

        if self.world_size != 1:
            raise ValueError(
                f"the hf rollout runs one process per replica, but its world size is "
                f"{self.world_size}; set actor_rollout_ref.rollout.tensor_model_parallel_size=1 "
                "(and data/pipeline parallel sizes 1)"
            )
        if not self.workers:
            raise ValueError("the hf rollout replica has no workers to place its server next to")
        node_id, accelerator_ids = await self.workers[0].__ray_call__.remote(_worker_placement)

        platform = get_platform()
        env_vars = {var: "1" for var in platform.ray_noset_envvars()}
        if env_vars and accelerator_ids:
            # Ray would hide the accelerators from a num_gpus=0 actor; show it its worker's.
            env_vars[platform.visible_devices_envvar()] = ",".join(accelerator_ids)

        kind = "reward" if self.is_reward_model else "teacher" if self.is_teacher_model else ""
        name = server_actor_name(self.replica_rank, kind, self.name_suffix)
        server = _early_servers.pop(name, None) or _server_actor(
            name, node_id, env_vars, self.max_concurrency
        ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        await server.wake_up.remote()  # surfaces a failed model load here, not at first use
        self.servers = [server]
        self._server_handle = server
        self._server_address = name

    def rollout_worker_use_gpu(self) -> bool:
        from verl.utils.device import get_device_name

        return get_device_name() != "cpu"


def _server_actor(name: str, node_id: str, env_vars: dict[str, str], max_concurrency: int) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return ray.remote(HFRolloutServer).options(
        name=name,
        num_cpus=0,
        max_concurrency=max_concurrency,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
        runtime_env={"env_vars": env_vars},
    )


def start_server_early(config: Any) -> None:
    """Start the rollout server of a one-replica ``hf`` run on a one-node CPU cluster now.

    veRL starts it only once the trainer's worker has loaded its model, one after the other;
    started here it loads next to that worker (its own process and imports, ≈6 s on two
    cores) and :class:`HFReplica` adopts it: the same actor, name, options and arguments.
    Anything else (more replicas, more nodes, accelerators) is left to the replica.
    """
    rollout, trainer = config.actor_rollout_ref.rollout, config.trainer
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    if (
        rollout.name != ROLLOUT_NAME
        or trainer.device != "cpu"
        or trainer.nnodes * trainer.n_gpus_per_node != 1
        or not config.actor_rollout_ref.get("hybrid_engine", True)
        or len(nodes) != 1
    ):
        return
    # the replica veRL will build, for the arguments and options it will start its server with
    replica = HFReplica(
        replica_rank=0,
        config=rollout,
        model_config=config.actor_rollout_ref.model,
        gpus_per_node=trainer.n_gpus_per_node,
    )
    name = server_actor_name(0)
    _early_servers[name] = _server_actor(name, nodes[0], {}, replica.max_concurrency).remote(
        config=replica.config, model_config=replica.model_config, replica_rank=0
    )


class HFServerAdapter(BaseRollout):
    """Worker-side half of the ``hf`` rollout: forwards weight syncs to the replica's server."""

    def __init__(
        self,
        config: Any,
        model_config: Any,
        device_mesh: Any,
        replica_rank: int = -1,
    ) -> None:
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world if replica_rank == -1 else replica_rank
        self.is_leader_rank = rank % world == 0
        self._server: Any = None

    def _server_handle(self) -> Any:
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        """Weights and cache stay resident in the server: nothing to resume."""

    async def release(self) -> None:
        """Nothing to release: the server keeps its (small) model."""

    @torch.no_grad()
    async def update_weights(
        self,
        weights: Iterable[tuple[str, torch.Tensor]],
        wire_format: str = "named_tensors",
        global_steps: int | None = None,
        peft_config: Any = None,
        **kwargs: Any,
    ) -> None:
        """Gather full tensors to host memory and load them into the server.

        Every rank walks the generator (gathering a sharded tensor is a collective); only
        the replica's leader rank sends.
        """
        if wire_format != "named_tensors":
            raise NotImplementedError(
                f"the hf rollout takes wire_format='named_tensors', got {wire_format!r}"
            )
        if peft_config is not None:
            raise NotImplementedError(
                "the hf rollout cannot load LoRA adapters; set model.lora.merge=True"
            )
        state: dict[str, torch.Tensor] = {}
        for name, tensor in weights:
            full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
            if self.is_leader_rank:
                state[name] = full.detach().to("cpu", copy=True)
        if self.is_leader_rank:
            await self._server_handle().load_weights.remote(state, global_steps)

    def generate_sequences(self, prompts: Any) -> Any:
        raise NotImplementedError("the hf rollout serves the async agent loop only")
