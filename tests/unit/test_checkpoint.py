"""A run's trained model: exported from veRL's layout, recorded on the run, found by run id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient
from transformers import AutoModelForCausalLM

from rmsweep import checkpoint, names
from rmsweep.errors import CheckpointError
from rmsweep.tiny_model import save_untrained

TEXTS = ["Rate the response: <score>3</score>", "Which is better? <answer>[[A]]</answer>"]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_untrained(tmp_path_factory.mktemp("m") / "m", TEXTS, hidden_size=16, num_layers=1)


def verl_layout(root: Path, steps: tuple[int, ...], model: Path) -> Path:
    """veRL's ``global_step_N/actor/huggingface`` folders, each a model marked with its step,
    whose config says bfloat16 while the weights are float32 (as veRL writes them)."""
    for step in steps:
        hf = root / f"global_step_{step}" / "actor" / "huggingface"
        shutil.copytree(model, hf)
        config = json.loads((hf / "config.json").read_text())
        config["dtype"] = "bfloat16"
        (hf / "config.json").write_text(json.dumps(config))
        (hf / "step.txt").write_text(str(step))
        (root / f"global_step_{step}" / "data.pt").write_bytes(b"dataloader state")
    return root


def test_export_takes_the_last_step_fixes_its_dtype_and_drops_the_rest(
    tmp_path: Path, small_model: Path
) -> None:
    verl_dir = verl_layout(tmp_path / "verl", (2, 10, 4), small_model)
    target = checkpoint.export(verl_dir, tmp_path / "model")
    assert (target / "step.txt").read_text() == "10"  # numeric order, not text order
    assert json.loads((target / "config.json").read_text())["dtype"] == "float32"
    assert not verl_dir.exists()
    model = AutoModelForCausalLM.from_pretrained(target, dtype="auto")
    assert next(model.parameters()).dtype == torch.float32


def test_export_without_a_saved_model_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "verl" / "global_step_3" / "actor").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"verl: veRL saved no Hugging Face model"):
        checkpoint.export(tmp_path / "verl", tmp_path / "model")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, str]:
    root = tmp_path_factory.mktemp("store")
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client, client.create_experiment("ckpt", artifact_location=(root / "art").as_uri())


@pytest.fixture
def run(tmp_path: Path, store, small_model: Path) -> tuple[MlflowClient, str, Path]:
    client, experiment = store
    run_id = client.create_run(experiment).info.run_id
    model = checkpoint.export(verl_layout(tmp_path / "verl", (3,), small_model), tmp_path / "model")
    yield client, run_id, model
    client.set_terminated(run_id)


def test_a_small_checkpoint_is_found_from_the_run_id_even_when_its_folder_is_gone(
    run, tmp_path: Path
) -> None:
    client, run_id, model = run
    assert checkpoint.record(client, run_id, model, artifact_max_mb=64)
    tags = client.get_run(run_id).data.tags
    assert tags[names.TAG_CHECKPOINT] == str(model.resolve())
    assert checkpoint.locate(client, run_id, download_to=tmp_path / "dl") == model
    before = AutoModelForCausalLM.from_pretrained(model).state_dict()
    shutil.rmtree(model)
    found = checkpoint.locate(client, run_id, download_to=tmp_path / "dl")
    assert found == tmp_path / "dl" / run_id and (found / "step.txt").read_text() == "3"
    after = AutoModelForCausalLM.from_pretrained(found).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_large_checkpoint_is_only_tagged_and_its_loss_is_one_clear_error(
    run, tmp_path: Path
) -> None:
    client, run_id, model = run
    assert not checkpoint.record(client, run_id, model, artifact_max_mb=0)
    assert names.TAG_CHECKPOINT_ARTIFACT not in client.get_run(run_id).data.tags
    assert client.list_artifacts(run_id) == []
    shutil.rmtree(model)
    with pytest.raises(CheckpointError, match=rf"run {run_id} has no checkpoint: its folder"):
        checkpoint.locate(client, run_id, download_to=tmp_path / "dl")


def test_a_run_that_saved_nothing(run, tmp_path: Path) -> None:
    client, run_id, _ = run
    with pytest.raises(CheckpointError, match=rf"run {run_id} has no checkpoint: it saved none"):
        checkpoint.locate(client, run_id, download_to=tmp_path / "dl")
