"""Our SFT overrides compose against veRL's own installed sft_trainer_engine config.

Hydra rejects an override of a key veRL does not have, and veRL's config dataclasses reject a
key that ``++`` added under a wrong name, so a typo (or a key veRL renamed) fails here instead
of being silently ignored by a training run.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from rmsweep import sft
from rmsweep.errors import ConfigError

SETTINGS = sft.SFTSettings(
    lr=2e-4, train_batch_size=8, micro_batch_size=2, max_length=256, total_steps=5, seed=3
)


def _compose_verl(overrides: list[str]):
    import verl as verl_pkg
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl_pkg.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name="sft_trainer_engine", overrides=overrides)


def _overrides(tmp_path: Path, settings: sft.SFTSettings, run_id: str | None = "0123abcd"):
    return sft.sft_overrides(
        settings,
        model_path=str(tmp_path / "model"),
        train_file=tmp_path / "train.parquet",
        val_file=tmp_path / "val.parquet",
        checkpoint_dir=tmp_path / "ckpt",
        run_id=run_id,
    )


def _as_dataclasses(composed) -> None:
    """What SFTTrainer._build_config does (less the model, which loads its files)."""
    from verl.utils.config import omega_conf_to_dataclass

    for section in ("engine", "optim", "checkpoint"):
        omega_conf_to_dataclass(composed[section])


def test_cpu_overrides_compose_against_installed_verl(tmp_path: Path) -> None:
    composed = _compose_verl(_overrides(tmp_path, SETTINGS))
    _as_dataclasses(composed)
    assert composed.model.path == str(tmp_path / "model")
    assert composed.data.train_files == str(tmp_path / "train.parquet")
    assert composed.data.val_files == str(tmp_path / "val.parquet")
    assert (composed.data.train_batch_size, composed.data.micro_batch_size_per_gpu) == (8, 2)
    assert composed.data.max_length == 256 and composed.data.max_token_len_per_gpu == 512
    assert composed.optim.lr == 2e-4
    assert composed.trainer.total_training_steps == 5 and composed.trainer.total_epochs == 5
    assert composed.trainer.seed == composed.engine.seed == 3
    assert list(composed.checkpoint.save_contents) == ["hf_model"]
    assert composed.trainer.default_local_dir == str(tmp_path / "ckpt" / "verl")
    assert composed.trainer.resume_mode == "disable"
    assert list(composed.trainer.logger) == ["console", "mlflow"]
    # The CPU extension's part.
    assert composed.trainer.device == "cpu"
    assert composed.engine.strategy == "fsdp2"
    assert composed.model.override_config.attn_implementation == "sdpa"
    assert composed.model.use_remove_padding is False
    assert OmegaConf.to_container(composed.engine.mixed_precision) == {
        "param_dtype": "fp32",
        "reduce_dtype": "fp32",
        "buffer_dtype": "fp32",
    }
    assert composed.data.num_workers == 0


def test_gpu_keeps_verls_defaults(tmp_path: Path) -> None:
    gpu = sft.SFTSettings(device="gpu")
    composed = _compose_verl(_overrides(tmp_path, gpu, run_id=None))
    default = _compose_verl([])
    _as_dataclasses(composed)
    for key in (
        "trainer.device",
        "engine.strategy",
        "model.use_remove_padding",
        "model.override_config",
        "data.num_workers",
    ):
        assert OmegaConf.select(composed, key) == OmegaConf.select(default, key), key
    assert "mixed_precision" not in composed.engine
    assert list(composed.trainer.logger) == ["console"]
    sdpa = _compose_verl(_overrides(tmp_path, sft.SFTSettings(device="gpu", attention="sdpa")))
    assert sdpa.model.override_config.attn_implementation == "sdpa"
    assert sdpa.model.use_remove_padding is False
    assert composed.data.val_files == str(tmp_path / "val.parquet")


def test_env_sets_the_rendezvous_mlflow_and_the_cpu_extension() -> None:
    env = sft.sft_env(SETTINGS, port=29123, tracking_uri="sqlite:///x.db", run_id="abc")
    assert {k: env[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")} == {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_PORT": "29123",
    }
    assert env["MASTER_ADDR"] == "127.0.0.1"
    assert (env["MLFLOW_TRACKING_URI"], env["MLFLOW_RUN_ID"]) == ("sqlite:///x.db", "abc")
    modules = env["VERL_USE_EXTERNAL_MODULES"].split(",")
    assert modules == ["rmsweep.verl_mlflow", "rmsweep.verl_cpu"]
    assert env["VERL_PLATFORM"] == "cpu"
    gpu = sft.sft_env(sft.SFTSettings(device="gpu"), port=1)
    assert gpu["VERL_USE_EXTERNAL_MODULES"] == "rmsweep.verl_mlflow"
    assert "VERL_PLATFORM" not in gpu and "MLFLOW_RUN_ID" not in gpu


def _parquet(path: Path, rows: int) -> Path:
    message = [{"role": "user", "content": "made-up"}, {"role": "assistant", "content": "x"}]
    pq.write_table(pa.Table.from_pylist([{"messages": message}] * rows), path)
    return path


def test_command_runs_verls_sft_trainer_and_checks_the_data_fill_a_batch(tmp_path: Path) -> None:
    train, val = _parquet(tmp_path / "train.parquet", 8), _parquet(tmp_path / "val.parquet", 3)
    args = {"model_path": "m", "train_file": train, "checkpoint_dir": tmp_path / "ckpt"}
    command = sft.sft_command(SETTINGS, val_file=None, **args)
    assert command.argv[1:3] == ["-m", "verl.trainer.sft_trainer"]
    assert "data.val_files=null" in command.argv
    assert command.model_dir == tmp_path / "ckpt" / "model"
    assert int(command.env["MASTER_PORT"]) > 0
    with pytest.raises(ConfigError, match=r"val file .*val.parquet has 3 rows, fewer than"):
        sft.sft_command(SETTINGS, val_file=val, **args)
    with pytest.raises(ConfigError, match=r"train file .*no.parquet: cannot read"):
        sft.sft_command(SETTINGS, val_file=None, **{**args, "train_file": tmp_path / "no.parquet"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device": "tpu"}, "sft device must be one of"),
        ({"total_steps": 0}, "sft total_steps must be a positive integer, got 0"),
        ({"lr": -1.0}, "sft lr must be a positive number"),
    ],
)
def test_bad_settings_fail_naming_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sft.SFTSettings(**change)
