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
from rmsweep.stages import check_stage_data
from rmsweep.verl import MAIN_PPO, JobInputs, JobSpec
from rmsweep.verl_cpu import MAIN_PPO_MODULE

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
        sft.check_data(cfg, given.train_file, given.val_file, given.model_path)


def test_a_study_of_grpo_trials_refuses_sft_data_before_it_opens_anything(tmp_path: Path) -> None:
    from rmsweep import preflight

    cfg = compose([*TRACES, "data.path=t.jsonl"])
    with pytest.raises(ConfigError, match="a study's trials\\) needs a source other than traces"):
        preflight.check_study(f"sqlite:///{tmp_path / 'optuna.db'}", cfg)
    assert not (tmp_path / "optuna.db").exists()


def test_sft_traces_belong_to_a_grpo_run_not_to_run_sft() -> None:
    with pytest.raises(ConfigError, match=r"sft.traces='t.jsonl' is a GRPO run's own SFT stage"):
        check_stage_data(compose([*TRACES, "data.path=t.jsonl", "sft.traces=t.jsonl"]), "sft")
    check_stage_data(compose(["sft.traces=t.jsonl"]), "grpo")


def test_a_chained_job_trains_sft_into_its_own_run_then_grpo_from_its_model(
    tmp_path: Path,
) -> None:
    from unit.test_data_traces import trace_rows, write_jsonl

    from rmsweep import stages
    from rmsweep.record import prepare_traces

    src = write_jsonl(tmp_path / "traces.jsonl", trace_rows())  # made-up traces
    task = ["data.task=pairwise", "template=pairwise_verdict"]
    cfg = compose([*task, f"sft.traces={src}", "sft.train_batch_size=4", f"workdir={tmp_path}"])
    traces = prepare_traces(cfg)
    assert traces is not None and traces.n_val == 4  # one batch held out
    given = inputs(tmp_path, rows=4)
    spec = stages.chained_job_spec(cfg, given, traces, "sft-run")
    assert spec.trainer_module == MAIN_PPO_MODULE and spec.before is not None  # device=cpu
    first = JobSpec(**spec.before["spec"])
    assert first.trainer_module == sft.SFT_MODULE and first.eval is None
    assert spec.before["run_id"] == "sft-run" and spec.before["env"]["MLFLOW_RUN_ID"] == "sft-run"
    model_dir = str(stages.sft_model_dir(cfg, "sft-run"))
    assert first.model_dir == model_dir
    assert f"actor_rollout_ref.model.path={model_dir}" in spec.trainer_args
    assert "model.path=/models/start" in first.trainer_args  # SFT starts from the run's model
    assert f"data.train_files={traces.train_path}" in first.trainer_args


@pytest.mark.parametrize(("state", "stage_state"), [("killed", "KILLED"), ("failed", "FAILED")])
def test_a_run_ending_during_its_sft_stage_ends_that_stage_too(
    tmp_path: Path, state: str, stage_state: str
) -> None:
    from rmsweep import names
    from rmsweep.tracking import finish_run, tracking_client

    client = tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("e")
    run = client.create_run(experiment).info.run_id
    stage = client.create_run(
        experiment, tags={names.TAG_PARENT: run, names.TAG_STAGE: "sft"}
    ).info.run_id
    other = client.create_run(experiment, tags={names.TAG_PARENT: run}).info.run_id
    finish_run(client, run, state)
    assert client.get_run(stage).info.status == stage_state
    assert client.get_run(other).info.status == "RUNNING"  # only the run's own stage
    client.set_terminated(other)


def test_a_trace_longer_than_max_length_is_refused_naming_the_row(tmp_path: Path) -> None:
    from rmsweep.tiny_model import save_untrained

    model = save_untrained(
        tmp_path / "m", ["a made-up text to train a tokenizer on"], hidden_size=16
    )
    given = inputs(tmp_path, rows=4)
    long = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "word " * 300}]
    pd.DataFrame({"messages": [long] * 4}).to_parquet(given.val_file)
    cfg = compose([*TRACES, "data.path=t.jsonl", "sft.train_batch_size=4", "sft.max_length=64"])
    with pytest.raises(ConfigError, match=r"val\.parquet: row 0: \d+ tokens, more than sft\.max"):
        sft.check_data(cfg, given.train_file, given.val_file, str(model))


def test_sft_on_a_gpu_asks_for_one_gpu() -> None:
    from rmsweep import capacity

    cfg = compose([*TRACES, "data.path=t.jsonl", "device=gpu", "device.gpus_per_node=8"])
    assert capacity.job_resources(cfg, "sft") == {"GPU": 1.0}
    assert capacity.job_resources(cfg, "grpo") == {"GPU": 8.0}
    with pytest.raises(ConfigError, match="SFT runs as one process on one GPU"):
        sft.check_data(cfg, Path("t"), Path("v"), "m")
    with pytest.raises(ConfigError, match="sft.traces on device=gpu"):
        check_stage_data(compose(["device=gpu", "sft.traces=t.jsonl"]), "grpo")
