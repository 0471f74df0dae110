"""What veRL's own SFT trainer (``python -m verl.trainer.sft_trainer``) needs on a CPU host.

The environment is the GRPO job's, :func:`rmsweep.verl_cpu.cpu_env`: without ``VERL_PLATFORM``
the process group asks for NCCL ("Distributed package doesn't have NCCL built in"); with it,
the extension veRL imports (``VERL_USE_EXTERNAL_MODULES``) registers its engines for the
``cpu`` device (:mod:`rmsweep.verl_cpu.engine`). The trainer is one process without Ray, so
nothing else of the extension is involved; the overrides below clear the rest (each measured
on veRL 0.9.1, torch CPU).
"""

from __future__ import annotations

FP32 = "{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}"


def cpu_sft_overrides() -> list[str]:
    """Hydra overrides for ``verl.trainer.sft_trainer`` that a CPU run needs (nothing else).

    Keys absent from veRL's ``sft_trainer_engine`` config use ``++`` (add or override).
    """
    return [
        # Match the platform's device name (veRL's default is cuda).
        "trainer.device=cpu",
        # FSDP1 refuses CPU modules ("sync_module_states=True … requires them to be on GPU");
        # FSDP2 shards CPU tensors.
        "engine.strategy=fsdp2",
        # HFModelConfig turns on flash-attention 2, which needs CUDA; sdpa runs anywhere.
        "++model.override_config.attn_implementation=sdpa",
        # The remove-padding path is built for flash-attention's varlen kernels. On sdpa it
        # gave the same losses here, but the GRPO actor runs without it on a CPU: so does SFT.
        "model.use_remove_padding=False",
        # No mixed_precision means bf16 autocast: slower than fp32 on a CPU, and the model
        # would not be trained in the precision GRPO then runs it in (fp32, see cpu_overrides).
        f"++engine.mixed_precision={FP32}",
        # No DataLoader worker processes (default 8) on a small host.
        "data.num_workers=0",
    ]
