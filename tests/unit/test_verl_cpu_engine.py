"""The cpu engines: veRL's FSDP engines, found for the ``cpu`` device, and micro-batches that
veRL's move to the device returns as they are."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils as tu
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from rmsweep.verl_cpu import cpu_env
from rmsweep.verl_cpu.engine import on_cpu


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
    assert moved is not batch  # rebuilt: the cost on_cpu spares

    marked = on_cpu(batch)
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
    assert on_cpu(batch) is batch


def test_a_cpu_runs_verl_finds_the_cpu_engines() -> None:
    probe = (
        "import verl\n"
        "from verl.workers.engine import EngineRegistry\n"
        "for kind in ('language_model', 'value_model'):\n"
        "    cls = EngineRegistry.get_engine_cls(kind, 'fsdp2')\n"
        "    print(cls.__module__, cls.__name__)\n"
    )
    env = {**os.environ, **cpu_env("cpu")}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == [
        "rmsweep.verl_cpu.engine CPUFSDPEngineWithLMHead",
        "rmsweep.verl_cpu.engine CPUFSDPEngineWithValueHead",
    ]
