"""veRL's FSDP engines, registered for the ``cpu`` device, without a rebuild of every micro-batch.

veRL's FSDP engine moves each micro-batch to its device (``micro_batch.to(get_device_id())``).
On the CPU its tensors are there already and stay the same objects, but tensordict still
rebuilds the batch, every sample's non-tensor entries included (prompt, extra info, reward
settings): ~30 ms a micro-batch of 32 on this host, a quarter of an old-log-prob pass on the
tiny model (``benchmarks/trial_phases.py``, py-spy). These engines hand veRL's
``forward_step`` the micro-batch marked as on the CPU, the same entries in a new container
(:func:`marked_on_cpu`), so that move returns it as it is. Everything else is veRL's engine.

Registered with veRL's ``EngineRegistry`` for the device ``cpu`` by
:func:`rmsweep.verl_cpu.register`, in a process of a CPU run.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDict
from verl.workers.engine.base import EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead

CPU = torch.device("cpu")


def marked_on_cpu(batch: TensorDict) -> TensorDict:
    """``batch``'s entries in a new TensorDict whose device is the CPU.

    A TensorDict without a device (as veRL's batches come from TransferQueue) is rebuilt by
    ``.to("cpu")`` even when every tensor is on the CPU; one marked ``cpu`` is returned as is.
    The entries are the batch's own objects, tensors and non-tensor stacks alike: veRL's
    engine reads them and adds keys at the top level only. A batch already marked, or with a
    top-level tensor elsewhere than on the CPU, is returned unchanged.
    """
    if batch.device == CPU or type(batch) is not TensorDict:
        return batch
    entries = dict(batch.items())
    if any(isinstance(v, torch.Tensor) and v.device != CPU for v in entries.values()):
        return batch
    # _new_unsafe: tensordict's own constructor without the per-entry validation that would
    # rebuild the non-tensor entries again (the cost this module removes).
    return TensorDict._new_unsafe(
        entries, batch_size=batch.batch_size, device=CPU, names=batch._maybe_names()
    )


class _MicroBatchOnCPU:
    def forward_step(self, micro_batch: TensorDict, loss_function: Any, forward_only: bool) -> Any:
        return super().forward_step(marked_on_cpu(micro_batch), loss_function, forward_only)  # type: ignore[misc]


@EngineRegistry.register(model_type="language_model", backend=["fsdp", "fsdp2"], device="cpu")
class CPUFSDPEngineWithLMHead(_MicroBatchOnCPU, FSDPEngineWithLMHead):
    """veRL's FSDP actor/reference engine on the CPU."""


@EngineRegistry.register(model_type="value_model", backend=["fsdp", "fsdp2"], device="cpu")
class CPUFSDPEngineWithValueHead(_MicroBatchOnCPU, FSDPEngineWithValueHead):
    """veRL's FSDP critic engine on the CPU."""
