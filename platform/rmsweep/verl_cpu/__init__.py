"""The project's veRL CPU extension: a ``cpu`` platform and an ``hf`` rollout backend.

veRL imports this package in every process when ``VERL_USE_EXTERNAL_MODULES`` names it
(see :func:`cpu_env`); the import registers both with veRL's registries. Importing it
without veRL loaded registers nothing and stays cheap (no torch, Ray or veRL); call
:func:`register` to register explicitly.

Example::

    from rmsweep.verl_cpu import cpu_env, cpu_overrides

    overrides = [*cpu_overrides(), "data.train_files=/abs/train.parquet", ...]
    env = cpu_env()  # put in the Ray job's runtime_env and ray_kwargs.ray_init.runtime_env
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "DEVICES",
    "MAIN_PPO_MODULE",
    "MODULE",
    "PLATFORM",
    "ROLLOUT",
    "cpu_env",
    "cpu_overrides",
    "head_resources",
    "register",
]

MODULE = __name__  # what VERL_USE_EXTERNAL_MODULES must name
MAIN_PPO_MODULE = f"{MODULE}.main_ppo"  # veRL's main_ppo, its task runner in the driver
PLATFORM = "cpu"
ROLLOUT = "hf"
# Logical CPUs one CPU job reserves on its Ray: TransferQueue, agent-loop, router and rollout
# actors each ask for one, more than a small host has cores; without them it waits forever.
JOB_CPUS = 16

AGENT_LOOPS_YAML = Path(__file__).with_name("agent_loops.yaml")
ROUTER_YAML = Path(__file__).with_name("router.yaml")  # rmsweep.verl_cpu.router's plugin file

_registered = False
_engines_registered = False


def register(*, engines: bool = True) -> None:
    """Register the ``cpu`` platform and the ``hf`` rollout with veRL (idempotent), and in a
    CPU run's process (``VERL_PLATFORM=cpu``) veRL's FSDP engines for the ``cpu`` device.

    Imports veRL (seconds). veRL itself calls this, through the import it makes for
    ``VERL_USE_EXTERNAL_MODULES``, in every process it starts.

    Args:
        engines: False where no engine is built yet (veRL's driver, at its start): the engines
            module imports veRL's FSDP engine (~0.6 s). A later call registers them.
    """
    global _registered, _engines_registered
    if not _registered:
        from verl.plugin.platform import PlatformRegistry
        from verl.workers.rollout import base as rollout_base
        from verl.workers.rollout.replica import RolloutReplicaRegistry

        from rmsweep.verl_cpu.platform import CPUPlatform

        if PlatformRegistry.get(PLATFORM) is not CPUPlatform:
            PlatformRegistry.register(platform=PLATFORM)(CPUPlatform)
        rollout_base._ROLLOUT_REGISTRY[(ROLLOUT, "async")] = f"{MODULE}.rollout.HFServerAdapter"
        RolloutReplicaRegistry.register(ROLLOUT, _load_replica)
        _registered = True
    if engines and not _engines_registered and os.environ.get("VERL_PLATFORM") == PLATFORM:
        from rmsweep.verl_cpu import engine  # noqa: F401  (registers them)

        _engines_registered = True


def _load_replica() -> type:
    from rmsweep.verl_cpu.rollout import HFReplica

    return HFReplica


DEVICES = ("cpu", "gpu")


def _check_device(device: str) -> None:
    if device not in DEVICES:
        from rmsweep.errors import ConfigError

        raise ConfigError(f"device.name must be one of {list(DEVICES)}, got {device!r}")


def cpu_env(device: str = "cpu") -> dict[str, str]:
    """Environment variables that the job driver and every Ray actor of a run need.

    Args:
        device: ``"cpu"`` for a CPU run (platform and rollout); ``"gpu"`` for the ``hf``
            rollout on a CUDA host (registration only).

    Returns:
        A fresh dict; put it in the Ray job's ``runtime_env`` and in
        ``ray_kwargs.ray_init.runtime_env.env_vars``.

    Raises:
        ConfigError: ``device`` is not ``"cpu"`` or ``"gpu"``.
    """
    _check_device(device)
    env = {
        # veRL imports this module on `import verl` in every process: registers cpu + hf.
        "VERL_USE_EXTERNAL_MODULES": MODULE,
    }
    if device == "cpu":
        env.update(
            {
                # Pick the cpu platform; auto-detection would fall back to 'nvidia' (NCCL).
                "VERL_PLATFORM": PLATFORM,
                # TransferQueue asks for 8 torch threads and 8 ZeroMQ I/O threads per client;
                # above the host's cores it logs a warning on every put and get (thousands a
                # run, each forwarded to the driver's log). One of each, as Ray gives torch.
                "TQ_NUM_THREADS": "1",
                "TQ_CLIENT_ZMQ_IO_THREADS": "1",
                # The job's Ray would start one idle worker per logical CPU (16, see
                # cpu_overrides) as the driver connects: on a small host that is most of
                # the CPU of the start-up, for workers that veRL's few actors never use.
                "RAY_prestart_worker_first_driver": "0",
            }
        )
        # The job's private Ray (ray_init address=local) listens on 127.0.0.1 only, on any
        # cluster: nothing outside the job's node needs to reach it.
        from rmsweep.launch._head import LOOPBACK_ENV

        env.update(LOOPBACK_ENV)
    return env


def head_resources(jobs: int = 1) -> dict[str, int]:
    """What a Ray head must advertise for ``jobs`` CPU jobs at once to join it
    (``cpu_overrides(private_ray=False)``): per job, one logical GPU (veRL's resource pools ask
    for one per worker; the ``cpu`` platform names Ray's ``GPU``) and :data:`JOB_CPUS` CPUs."""
    jobs = max(1, jobs)
    return {"num_cpus": JOB_CPUS * jobs, "num_gpus": jobs}


def cpu_overrides(device: str = "cpu", *, private_ray: bool = True) -> list[str]:
    """Hydra overrides for ``verl.trainer.main_ppo`` that a CPU run needs (and nothing else).

    Data, model and trainer hyper-parameters are the caller's; these only make the job run
    on a CPU host. Keys absent from veRL's config use ``++`` (add or override), so the caller
    may set them too.

    Args:
        device: ``"cpu"`` for everything a CPU run needs; ``"gpu"`` for only the ``hf``
            rollout's own overrides (a CUDA host without vLLM).
        private_ray: the job starts a Ray of its own, with the logical resources it needs
            (any cluster, or none). False: it joins the Ray it runs in (a Ray job's
            ``RAY_ADDRESS``), whose head advertises :func:`head_resources`; that spares a
            GCS, a raylet and their agents per job, ~3 s of start-up and ~1 s of shutdown.

    Raises:
        ConfigError: ``device`` is not ``"cpu"`` or ``"gpu"``.
    """
    _check_device(device)
    rollout = [
        # The hf backend: transformers generate in a Ray actor (rmsweep.verl_cpu.rollout).
        "actor_rollout_ref.rollout.name=hf",
        # hf has no tensor parallelism: one process per replica.
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        # veRL's single-turn agent loop, plus a sample id that seeds the hf server's sampling
        # (rmsweep.verl_cpu.agent_loop): reruns draw the same samples.
        f"actor_rollout_ref.rollout.agent.agent_loop_config_path='{AGENT_LOOPS_YAML}'",
        "actor_rollout_ref.rollout.agent.default_agent_loop=hf_seeded_single_turn",
        # veRL's sync replay buffer sleeps a fixed 2 s between checks for finished rollouts
        # (most of a tiny step) and orders a batch by rollout completion; this subclass
        # polls every 50 ms and keeps submission order (rmsweep.verl_cpu.replay; no DAPO).
        "trainer.v1.sampler.custom_sampler.path=pkg://rmsweep.verl_cpu.replay",
        "trainer.v1.sampler.custom_sampler.name=FastPollReplayBuffer",
    ]
    if device != "cpu":
        return rollout
    own_ray = [
        # veRL's resource pools ask Ray for one GPU per worker (use_gpu is hard-coded): give
        # the private Ray one logical GPU that nothing touches, and logical CPUs.
        "++ray_kwargs.ray_init.num_gpus=1",
        f"ray_kwargs.ray_init.num_cpus={JOB_CPUS}",
        # Start a private local Ray rather than joining whatever cluster is already running
        # (a second job would otherwise join the first job's cluster).
        "++ray_kwargs.ray_init.address=local",
        # That private cluster needs no dashboard: saves ~1 GB and a dozen processes.
        "++ray_kwargs.ray_init.include_dashboard=False",
    ]
    return [
        # Match the platform's device name (else veRL warns "Requested device cuda ...").
        "trainer.device=cpu",
        # One worker on one logical GPU; the host has no real one.
        "trainer.nnodes=1",
        "trainer.n_gpus_per_node=1",
        *(own_ray if private_ray else []),
        # TransferQueue defaults to 8 storage actors of 1 CPU each: one is plenty here.
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        # One agent-loop worker (the default 8 cost ~35 s of start-up), run in veRL's driver
        # process, asking the load balancer once and scoring rule-based rewards itself: no
        # agent-loop process, no Ray round trips per sample (rmsweep.verl_cpu.agent_manager).
        # Samples are seeded by id, so the count changes no result. veRL's config has no
        # manager-class key: `++`.
        "actor_rollout_ref.rollout.agent.num_workers=1",
        "++actor_rollout_ref.rollout.agent.agent_loop_manager_class="
        f"{MODULE}.agent_manager.OneReplicaAgentLoopManager",
        # ... so the load balancer barely works: a plain-Python one (rmsweep.verl_cpu.router)
        # spares the start-up a process importing veRL.
        f"actor_rollout_ref.rollout.router_config_path='{ROUTER_YAML}'",
        # No reward-loop workers (default 8): the agent-loop worker scores rewards itself.
        "reward.num_workers=0",
        # No DataLoader worker processes (default 8).
        "data.dataloader_num_workers=0",
        # veRL defaults to flash-attention 2, which needs CUDA; PyTorch's sdpa runs anywhere.
        "++actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        # The remove-padding path relies on flash-attention's varlen kernels.
        "actor_rollout_ref.model.use_remove_padding=False",
        # FSDP1 refuses to initialise without an accelerator; FSDP2 works on CPU tensors.
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.actor.fsdp_config.strategy=fsdp2",
        "actor_rollout_ref.ref.fsdp_config.strategy=fsdp2",
        # veRL's FSDP default is bf16 autocast: on a CPU slower than fp32, and it drifts from
        # the fp32 rollout model (max prob. difference ~1e-4 with bf16, ~3e-9 with fp32).
        "++actor_rollout_ref.actor.fsdp_config.mixed_precision="
        "{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}",
        "++actor_rollout_ref.ref.fsdp_config.mixed_precision="
        "{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}",
        *rollout,
    ]


# veRL imports this module while `import verl` runs (VERL_USE_EXTERNAL_MODULES): register
# then. Without veRL loaded, stay cheap; callers that need the registration call register().
if "verl" in sys.modules:
    register()
