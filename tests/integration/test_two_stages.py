"""RM-R1's two stages on a CPU, through the CLI: SFT on teacher traces, then GRPO from that run.

``rmsweep run sft`` trains the tiny model on made-up traces with veRL's SFT trainer; ``rmsweep
run train model.from_run=<sft run>`` starts GRPO from the SFT run's checkpoint on the same
(made-up) pairs; the GRPO run's lineage tags name the SFT run; ``reproduce`` of the GRPO run
matches it exactly, and refuses once the SFT run's checkpoint is gone.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import mlflow
import pytest
from conftest import JOB_THREADS
from integration.test_run_train import rmsweep
from integration.test_sft_cpu import made_up_traces

from rmsweep import names

SFT = (
    *JOB_THREADS,
    "sft.total_steps=3",
    "sft.train_batch_size=4",
    "sft.micro_batch_size=4",
    "model.tiny.warmstart_steps=40",
    # Only the folder is kept (no artifact): removing it makes the checkpoint gone.
    "checkpoint.artifact_max_mb=0",
)
GRPO = (
    *JOB_THREADS,
    "trainer.total_steps=2",
    "trainer.test_freq=2",
    "trainer.train_batch_size=8",
    "trainer.ppo_mini_batch_size=8",
    "trainer.rollout_n=4",
    "trainer.micro_batch_size_per_gpu=32",
)


@pytest.fixture(scope="module")
def chain(new_home):
    home = new_home("stages")
    root = home.parent
    traces = root / "traces.jsonl"  # made-up pairs with made-up teacher traces
    traces.write_text("".join(json.dumps(row) + "\n" for row in made_up_traces(40)))
    data = [
        f"data.path={traces}",
        "data.task=pairwise",
        "data.n_val=6",
        "template=pairwise_verdict",
    ]
    sft = rmsweep(
        home, "run", "sft", "data=traces_pairwise",
        *data, *SFT,
    )  # fmt: skip
    assert sft.returncode == 0, sft.stdout[-3000:] + sft.stderr[-5000:]
    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    experiment = client.get_experiment_by_name("rmsweep").experiment_id
    [sft_run] = client.search_runs([experiment])
    grpo = rmsweep(
        home, "run", "train", f"model.from_run={sft_run.info.run_id}", "data.source=pairs",
        "data.name=pairs", *data, *GRPO,
    )  # fmt: skip
    assert grpo.returncode == 0, grpo.stdout[-3000:] + grpo.stderr[-5000:]
    query = f"tags.`{names.TAG_STAGE}` = 'grpo'"
    [grpo_run] = client.search_runs([experiment], query)
    return home, client, client.get_run(sft_run.info.run_id), grpo_run, sft.stdout


def test_the_sft_run_is_recorded_like_a_grpo_run(chain) -> None:
    _, client, sft, _, out = chain
    tags = sft.data.tags
    assert sft.info.status == "FINISHED" and tags[names.TAG_STATE] == "complete"
    assert tags[names.TAG_STAGE] == "sft"
    assert sft.data.params["sft.total_steps"] == "3" and "template.name" in sft.data.params
    for digest in ("code", "data.train", "data.val", "template", "checkpoint"):
        assert len(tags[names.DIGEST_TAG_PREFIX + digest]) == 64, digest
    losses = client.get_metric_history(sft.info.run_id, "train/loss")
    assert sorted(p.step for p in losses) == [1, 2, 3]
    assert all(math.isfinite(p.value) for p in losses)
    assert (Path(tags[names.TAG_CHECKPOINT]) / "config.json").is_file()
    assert f"model.from_run={sft.info.run_id}" in out  # the next stage's command is shown
    # made_up_traces: every fifth trace picks the wrong answer and is dropped
    assert (tags[names.TAG_TRACES_READ], tags[names.TAG_TRACES_KEPT]) == ("40", "32")
    assert "trained on 32 of 40 traces" in out


def test_the_grpo_run_starts_from_the_sft_model_and_names_its_lineage(chain) -> None:
    _, _, sft, grpo, _ = chain
    tags = grpo.data.tags
    assert grpo.info.status == "FINISHED"
    assert tags[names.TAG_PARENT_STAGE] == sft.info.run_id
    assert tags[names.TAG_MODEL_PATH] == sft.data.tags[names.TAG_CHECKPOINT]
    theirs = names.PARENT_DIGEST_TAG_PREFIX
    for digest in ("data.train", "checkpoint", "code"):
        assert tags[theirs + digest] == sft.data.tags[names.DIGEST_TAG_PREFIX + digest]
    assert tags[names.DIGEST_TAG_PREFIX + "model"] == sft.data.tags["rmsweep.digest.checkpoint"]
    assert grpo.data.params["model.from_run"] == sft.info.run_id
    assert names.metric_key("val/acc", "pairs") in grpo.data.metrics


def test_reproduce_of_the_grpo_run_matches_then_refuses_without_the_sft_checkpoint(
    chain,
) -> None:
    home, client, sft, grpo, _ = chain
    proc = rmsweep(home, "run", "reproduce", grpo.info.run_id)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "final metrics identical" in proc.stdout
    shutil.rmtree(sft.data.tags[names.TAG_CHECKPOINT])
    runs_before = len(client.search_runs([grpo.info.experiment_id]))
    proc = rmsweep(home, "run", "reproduce", grpo.info.run_id)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    [line] = proc.stderr.strip().splitlines()
    assert f"model.from_run: run {sft.info.run_id} has no checkpoint" in line
    assert len(client.search_runs([grpo.info.experiment_id])) == runs_before


STUDY = """\
name: two-stage
description: each trial SFTs on the (made-up) traces, then trains GRPO from that model
base: [{base}]
objective: {{metric: val/acc, direction: maximize}}
space:
  sft.lr: [1.0e-3, 3.0e-3]
pruner: {{name: none}}
n_trials: 1
parallel: 1
"""


def test_a_study_sweeping_sft_settings_runs_both_stages_in_each_trial(
    new_home, tmp_path: Path
) -> None:
    import optuna

    home = new_home("study-stages")
    traces = tmp_path / "traces.jsonl"  # made up
    traces.write_text("".join(json.dumps(row) + "\n" for row in made_up_traces(40)))
    base = [
        "data.source=pairs", "data.name=pairs", f"data.path={traces}", "data.task=pairwise",
        "data.n_val=6", "template=pairwise_verdict", "model.tiny.warmstart_steps=40",
        f"sft.traces={traces}", "sft.total_steps=2", "sft.train_batch_size=4",
        "sft.micro_batch_size=4", *GRPO, "trainer.total_steps=1", "trainer.test_freq=1",
    ]  # fmt: skip
    spec = tmp_path / "two-stage.yaml"
    spec.write_text(STUDY.format(base=", ".join(base)))
    done = rmsweep(home, "study", "launch", str(spec))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    [trial] = optuna.load_study(
        study_name="two-stage", storage=f"sqlite:///{home}/optuna.db"
    ).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and "sft.lr" in trial.params
    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    experiment = client.get_experiment_by_name("two-stage").experiment_id
    [grpo] = client.search_runs([experiment], f"tags.`{names.TAG_TRIAL}` = '0'")
    [sft] = client.search_runs([experiment], f"tags.`{names.TAG_STAGE}` = 'sft'")
    assert sft.data.tags[names.TAG_PARENT] == grpo.info.run_id  # the stage sits in the trial
    assert sft.info.status == "FINISHED" and grpo.info.status == "FINISHED"
    assert float(sft.data.params["sft.lr"]) == trial.params["sft.lr"]
    assert len(client.get_metric_history(sft.info.run_id, "train/loss")) == 2
    tags = grpo.data.tags
    assert tags[names.TAG_PARENT_STAGE] == sft.info.run_id
    checkpoint = names.PARENT_DIGEST_TAG_PREFIX + "checkpoint"
    assert tags[checkpoint] == sft.data.tags[names.DIGEST_TAG_PREFIX + "checkpoint"]
    assert (
        tags[names.DIGEST_TAG_PREFIX + "sft.data.train"]
        == (sft.data.tags[names.DIGEST_TAG_PREFIX + "data.train"])
    )
