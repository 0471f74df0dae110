"""A run's stage (grpo | sft): which data each takes, and what an SFT run's job runs."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from rmsweep import sft
from rmsweep.cli import main
from rmsweep.config import compose
from rmsweep.errors import ConfigError
from rmsweep.job import trainer_env
from rmsweep.run import check_stage_data
from rmsweep.verl import MAIN_PPO, JobInputs, JobSpec

TRACES = ["data.source=traces", "data.task=pairwise", "template=pairwise_verdict"]


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, list[str]]:
    monkeypatch.setattr("sys.argv", ["rmsweep", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0), capsys.readouterr().err.splitlines()


@pytest.mark.usefixtures("workdir")
def test_each_command_refuses_the_other_stages_data(monkeypatch, capsys) -> None:
    code, err = run_cli(["run", "sft"], monkeypatch, capsys)  # the default data: synthetic
    assert code == 2 and len(err) == 1
    assert "data.source='synthetic': SFT (run sft) needs traces" in err[0]
    code, err = run_cli(["run", "train", *TRACES, "data.path=t.jsonl"], monkeypatch, capsys)
    assert code == 2 and len(err) == 1
    assert "GRPO (run train, a study's trials) needs a source other than traces" in err[0]
    assert "; that data is for SFT (run sft)" in err[0]


def test_stage_data_check_passes_the_right_pairs() -> None:
    check_stage_data(compose([*TRACES, "data.path=t.jsonl"]), "sft")
    check_stage_data(compose([]), "grpo")


def inputs(tmp_path: Path, rows: int) -> JobInputs:
    for split in ("train", "val"):
        pd.DataFrame({"messages": [[{"role": "user", "content": "x"}]] * rows}).to_parquet(
            tmp_path / f"{split}.parquet"
        )
    return JobInputs(
        train_file=tmp_path / "train.parquet",
        val_file=tmp_path / "val.parquet",
        model_path="/models/start",
        run_id="r1",
        tracking_uri="sqlite:///m.db",
        checkpoint_dir=tmp_path / "ckpt",
    )


def test_an_sft_jobs_spec_runs_verls_sft_trainer_on_the_sft_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose([*TRACES, "data.path=t.jsonl", "sft.lr=2e-4", "sft.train_batch_size=4"])
    spec = sft.job_spec(cfg, inputs(tmp_path, rows=4))
    assert spec.trainer_module == sft.SFT_MODULE and spec.hf_subdir == sft.HF_SUBDIR
    assert "optim.lr=0.0002" in spec.trainer_args
    assert "model.path=/models/start" in spec.trainer_args
    assert spec.model_dir == str(tmp_path / "ckpt" / "model")
    env = sft.submit_env(cfg, inputs(tmp_path, rows=4))
    assert env["MLFLOW_RUN_ID"] == "r1" and env["WORLD_SIZE"] == "1"
    assert "MASTER_PORT" not in env  # picked where the job runs
    monkeypatch.setenv("RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES", "1")  # as Ray's job has
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6380")
    env = trainer_env(spec)
    assert env["MASTER_PORT"].isdigit()
    assert "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES" not in env and "RAY_ADDRESS" not in env
    grpo = JobSpec(trainer_args=[], verl_checkpoint_dir="v", model_dir="m", artifact_max_mb=1)
    assert grpo.trainer_module == MAIN_PPO
    assert trainer_env(grpo).get("MASTER_PORT") == os.environ.get("MASTER_PORT")


def test_too_few_rows_for_one_batch_is_refused_naming_the_file(tmp_path: Path) -> None:
    cfg = compose([*TRACES, "data.path=t.jsonl", "sft.train_batch_size=8"])
    given = inputs(tmp_path, rows=4)
    with pytest.raises(ConfigError, match=r"train\.parquet has 4 rows, fewer than sft\.train_"):
        sft.check_data(cfg, given.train_file, given.val_file)


def test_a_study_of_grpo_trials_refuses_sft_data_before_it_opens_anything(tmp_path: Path) -> None:
    from rmsweep import preflight

    cfg = compose([*TRACES, "data.path=t.jsonl"])
    with pytest.raises(ConfigError, match="a study's trials\\) needs a source other than traces"):
        preflight.check_study(f"sqlite:///{tmp_path / 'optuna.db'}", cfg)
    assert not (tmp_path / "optuna.db").exists()
