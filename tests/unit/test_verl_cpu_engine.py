"""The cpu engines hand veRL's FSDP engine micro-batches that its move to the device returns as
they are (that veRL finds these engines: tests/integration/test_verl_cpu_engines.py)."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.tensordict_utils import list_of_dict_to_tensordict
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead

from rmsweep.verl_cpu.engine import (
    CPUFSDPEngineWithLMHead,
    CPUFSDPEngineWithValueHead,
    marked_on_cpu,
)


def _batch() -> TensorDict:
    """A micro-batch as veRL's trainer worker gets it from TransferQueue (no device)."""
    samples = [
        {
            "responses": torch.arange(3 + i),  # ragged: a nested tensor
            "prompts": torch.arange(4) + i,
            "extra_info": {"index": i, "split": "train"},
            "data_source": "synthetic",
        }
        for i in range(4)
    ]
    batch = list_of_dict_to_tensordict(samples)
    tu.assign_non_tensor(batch, temperature=0.7, calculate_entropy=True)
    return batch


def test_a_batch_marked_on_the_cpu_holds_the_same_entries_and_moves_for_free() -> None:
    batch = _batch()
    assert batch.device is None
    moved = batch.to("cpu")  # what veRL's forward_step does to each micro-batch
    assert moved is not batch  # rebuilt: the cost marked_on_cpu spares

    marked = marked_on_cpu(batch)
    assert marked.device == torch.device("cpu")
    assert marked.to("cpu") is marked  # veRL's move is now free
    assert sorted(marked.keys()) == sorted(moved.keys())
    for key in ("responses", "prompts"):
        assert marked.get(key) is batch.get(key)  # the tensors themselves, not copies
    assert (
        marked["extra_info"]
        == moved["extra_info"]
        == [{"index": i, "split": "train"} for i in range(4)]
    )
    assert marked["data_source"] == moved["data_source"]
    assert tu.get_non_tensor_data(marked, "temperature", None) == 0.7
    assert tu.get_non_tensor_data(marked, "calculate_entropy", None) is True
    marked["log_probs"] = torch.zeros(4)  # written into the new container only
    assert "log_probs" not in batch.keys()


def test_a_batch_already_on_the_cpu_is_returned_as_it_is() -> None:
    batch = _batch().to("cpu")
    assert marked_on_cpu(batch) is batch


@pytest.mark.parametrize(
    ("ours", "verls"),
    [
        (CPUFSDPEngineWithLMHead, FSDPEngineWithLMHead),
        (CPUFSDPEngineWithValueHead, FSDPEngineWithValueHead),
    ],
    ids=["actor", "critic"],
)
def test_the_engines_hand_verls_forward_step_the_marked_batch(ours, verls, monkeypatch) -> None:
    seen = []

    def verls_forward_step(self, micro_batch, loss_function, forward_only):
        seen.append((micro_batch, loss_function, forward_only))
        return "veRL's result"

    monkeypatch.setattr(verls, "forward_step", verls_forward_step)
    engine = object.__new__(ours)  # the method alone: no model, no process group
    batch = _batch()
    assert ours.forward_step(engine, batch, "loss", True) == "veRL's result"
    [(micro_batch, loss_function, forward_only)] = seen
    assert micro_batch.device == torch.device("cpu") and micro_batch.to("cpu") is micro_batch
    assert micro_batch.get("prompts") is batch.get("prompts")
    assert (loss_function, forward_only) == ("loss", True)
