"""veRL's own SFT trainer on the CPU, through rmsweep's extension: traces -> SFT -> a HF model.

Made-up teacher traces become SFT parquet (``rmsweep data prepare --source traces``'s
library call); ``python -m verl.trainer.sft_trainer`` then trains a tiny random model on
them for a few steps as one process, logging into a real sqlite MLflow run, and the model it
saves is exported as a Hugging Face folder. Every row is made up for the test.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path

import torch

from rmsweep.data import make_data_config, prepare_dataset, read_rows
from rmsweep.sft import SFTSettings, export_model, sft_command
from rmsweep.templates import load_template
from rmsweep.tiny_model import save_untrained

STEPS = 3
SETTINGS = SFTSettings(
    lr=1e-3, train_batch_size=4, micro_batch_size=2, max_length=256, total_steps=STEPS
)


def made_up_traces(n: int = 24) -> list[dict[str, str]]:
    """Made-up pairs and teacher traces; every fifth trace picks the wrong answer."""
    rows = []
    for i in range(n):
        position = "AB"[i % 2]
        verdict = {"A": "B", "B": "A"}[position] if i % 5 == 4 else position
        rows.append(
            {
                "prompt": f"What is {i} plus {i}?",
                "chosen": f"It is {2 * i}.",
                "rejected": f"It is {2 * i + 1}.",
                "chosen_position": position,
                "trace": f"<think>{i} plus {i} is {2 * i}.</think><answer>[[{verdict}]]</answer>",
            }
        )
    return rows


def _texts(paths: list[Path]) -> list[str]:
    return [m["content"] for path in paths for row in read_rows(path) for m in row["messages"]]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto")
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_sft_trains_logs_to_mlflow_and_saves_a_hf_model(workdir: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    traces = tmp_path / "traces.jsonl"
    traces.write_text("".join(json.dumps(row) + "\n" for row in made_up_traces()))
    data = prepare_dataset(
        make_data_config(source="traces", path=str(traces), n_val=4),
        load_template("pairwise_verdict"),
        tmp_path / "data",
    )
    assert (data.n_traces, data.n_traces_dropped, data.n_val) == (24, 4, 4)
    start = save_untrained(
        tmp_path / "tiny", _texts([data.train_path, data.val_path]), seed=0, hidden_size=64
    )

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("sft")).info.run_id
    command = sft_command(
        SETTINGS,
        model_path=str(start),
        train_file=data.train_path,
        val_file=data.val_path,
        checkpoint_dir=tmp_path / "run",
        tracking_uri=uri,
        run_id=run_id,
    )
    began = time.monotonic()
    try:
        done = subprocess.run(
            command.argv,
            env={**os.environ, **command.env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, "FAILED")
    print(f"sft process wall {time.monotonic() - began:.1f}s")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]

    losses = client.get_metric_history(run_id, "train/loss")
    assert [m.step for m in losses] == list(range(1, STEPS + 1))
    assert all(math.isfinite(m.value) for m in losses)
    (val_loss,) = client.get_metric_history(run_id, "val/loss")
    assert val_loss.step == STEPS and math.isfinite(val_loss.value)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert not run.data.params  # veRL's config went whole into the artifact instead
    assert [a.path for a in client.list_artifacts(run_id, "config")] == ["config/verl.yaml"]

    model_dir = export_model(command)
    assert model_dir == tmp_path / "run" / "model"
    assert not command.verl_checkpoint_dir.exists()
    trained, initial = _weights(model_dir), _weights(start)
    assert trained.keys() == initial.keys()
    assert all(v.dtype == torch.float32 for v in trained.values())
    assert any(not torch.equal(trained[k], initial[k]) for k in initial)
