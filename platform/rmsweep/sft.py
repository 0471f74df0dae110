"""SFT settings -> the command line and environment of one ``verl.trainer.sft_trainer`` run.

RM-R1's first stage: supervised fine-tuning on a teacher's reasoning traces (``rmsweep data
prepare --source traces``) with veRL's own SFT trainer; the exported model then starts GRPO.
This is the one place that knows veRL 0.9.1's SFT config keys (``sft_trainer_engine.yaml``):
``tests/unit/test_sft_overrides.py`` composes them against veRL's installed config, so a
misspelt key fails there instead of being ignored by a run.

The trainer runs as one process of world size 1: the environment carries torch.distributed's
``env://`` rendezvous (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so no torchrun.
On ``device="cpu"`` it also carries the CPU extension's variables, and the overrides its
:func:`~rmsweep.verl_cpu.sft.cpu_sft_overrides`; on ``"gpu"`` veRL's defaults stand.

Example::

    command = sft_command(SFTSettings(total_steps=3), model_path="…/tiny", train_file=…,
                          val_file=…, checkpoint_dir=Path("ckpt"))
    subprocess.run(command.argv, env={**os.environ, **command.env}, check=True)
    model_dir = export_model(command)  # ckpt/model: a Hugging Face folder
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep.errors import ConfigError
from rmsweep.overrides import hydra_value
from rmsweep.schema import SftConf
from rmsweep.verl import (
    EXTERNAL_MODULES_ENV,
    MODEL_SUBDIR,
    VERL_CHECKPOINT_SUBDIR,
    attention_overrides,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.verl import JobInputs, JobSpec

SFT_MODULE = "verl.trainer.sft_trainer"
HF_SUBDIR = "huggingface"  # where veRL's SFT trainer saves it, inside global_step_<N>/
DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class SFTSettings:
    """What an SFT run varies; everything else is veRL's default (or the CPU extension's).

    ``micro_batch_size`` bounds one forward pass: veRL's dynamic batching (on by default) packs
    sequences up to ``micro_batch_size * max_length`` tokens. ``seed`` goes to veRL's
    ``trainer.seed`` and ``engine.seed``; veRL 0.9.1's SFT data order does not read it (its
    sampler is seeded 0), so runs on the same data repeat exactly anyway.
    """

    # The defaults are the config's (schema.SftConf): the tiny model's, on a CPU.
    lr: float = SftConf.lr
    train_batch_size: int = SftConf.train_batch_size
    micro_batch_size: int = SftConf.micro_batch_size
    max_length: int = SftConf.max_length
    total_steps: int = SftConf.total_steps
    seed: int = 0
    device: str = "cpu"
    attention: str = "flash_attention_2"  # on a GPU (device.attention); a CPU runs sdpa

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"sft device must be one of {list(DEVICES)}, got {self.device!r}")
        for name in ("train_batch_size", "micro_batch_size", "max_length", "total_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"sft {name} must be a positive integer, got {value!r}")
        if not isinstance(self.lr, int | float) or not self.lr > 0:
            raise ConfigError(f"sft lr must be a positive number, got {self.lr!r}")


@dataclass(frozen=True)
class SFTCommand:
    """One SFT run: run ``argv`` with ``env`` added to the environment, then export."""

    argv: list[str]
    env: dict[str, str]
    verl_checkpoint_dir: Path  # veRL saves global_step_<N>/huggingface here
    model_dir: Path  # where export_model puts the Hugging Face folder


def sft_overrides(
    settings: SFTSettings,
    *,
    model_path: str,
    train_file: Path,
    val_file: Path | None,
    checkpoint_dir: Path,
    run_id: str | None = None,
) -> list[str]:
    """Hydra overrides for ``python -m verl.trainer.sft_trainer``.

    Args:
        settings: The run's SFT settings.
        model_path: A Hugging Face model folder (or hub name) to start from.
        train_file: SFT parquet (``messages`` rows), e.g. ``prepare_dataset``'s for traces.
        val_file: Its validation parquet, or None for no validation.
        checkpoint_dir: The run's folder; veRL checkpoints into ``<it>/verl``.
        run_id: An MLflow run to log into (veRL's own MLflow tracker); None: console only.
    """
    s = settings
    values: dict[str, object] = {
        "model.path": model_path,
        "data.train_files": str(train_file),
        "data.val_files": None if val_file is None else str(val_file),
        "data.train_batch_size": s.train_batch_size,
        "data.micro_batch_size_per_gpu": s.micro_batch_size,
        "data.max_token_len_per_gpu": s.micro_batch_size * s.max_length,
        "data.max_length": s.max_length,
        "optim.lr": s.lr,
        "trainer.total_training_steps": s.total_steps,
        # The epoch loop ends training early when the data runs out: one step per epoch at
        # least, so this many epochs always reach total_training_steps.
        "trainer.total_epochs": s.total_steps,
        "trainer.seed": s.seed,
        "engine.seed": s.seed,
        # Only the Hugging Face model, once, at the last step (veRL always saves then).
        "checkpoint.save_contents": ["hf_model"],
        "trainer.save_freq": -1,
        "trainer.resume_mode": "disable",
        "trainer.default_local_dir": str(checkpoint_dir / VERL_CHECKPOINT_SUBDIR),
        "trainer.project_name": "rmsweep-sft",
        "trainer.experiment_name": f"sft-{run_id}" if run_id else "sft",
        "trainer.logger": ["console", "mlflow"] if run_id else ["console"],
    }
    overrides = [f"{key}={hydra_value(value)}" for key, value in values.items()]
    if s.device == "cpu":
        from rmsweep.verl_cpu.sft import cpu_sft_overrides

        overrides.extend(cpu_sft_overrides())
    else:
        overrides.extend(attention_overrides(s.attention, "model"))
    return overrides


def sft_env(
    settings: SFTSettings,
    *,
    port: int | None,
    tracking_uri: str | None = None,
    run_id: str | None = None,
) -> dict[str, str]:
    """Environment of the SFT process: the rendezvous on ``port`` (None: the job picks one
    where it runs, ``rmsweep.job``), MLflow, the CPU extension."""
    from rmsweep import verl_mlflow

    env = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if port is not None:
        env["MASTER_PORT"] = str(port)
    if run_id is not None:
        if tracking_uri is None:
            raise ConfigError("an SFT run logging to MLflow needs its tracking URI")
        env.update(MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_RUN_ID=run_id)
    # veRL imports each listed module on `import verl`: its config goes to the MLflow run as
    # config/verl.yaml rather than ~200 params; on a CPU, the cpu platform gets registered.
    modules = [verl_mlflow.MODULE]
    if settings.device == "cpu":
        from rmsweep.verl_cpu import cpu_env

        extension = cpu_env()
        modules += extension.pop(EXTERNAL_MODULES_ENV).split(",")
        env.update(extension)
    env[EXTERNAL_MODULES_ENV] = ",".join(modules)
    return env


def sft_command(
    settings: SFTSettings,
    *,
    model_path: str,
    train_file: Path,
    val_file: Path | None,
    checkpoint_dir: Path,
    tracking_uri: str | None = None,
    run_id: str | None = None,
    python: str | None = None,
) -> SFTCommand:
    """The command line and environment of one SFT run, after checking its data fit the batch.

    Args:
        settings: The run's SFT settings.
        model_path: A Hugging Face model folder (or hub name) to start from.
        train_file: SFT parquet (``messages`` rows).
        val_file: Its validation parquet, or None for no validation.
        checkpoint_dir: The run's folder (``verl/`` for veRL, ``model/`` for the export).
        tracking_uri: The MLflow tracking URI of ``run_id``.
        run_id: An existing MLflow run that veRL logs into; None: console only.
        python: The interpreter (default: this one).

    Raises:
        ConfigError: A bad setting, a parquet file that cannot be read, or one with fewer rows
            than a batch (veRL drops incomplete batches: it would train or validate on none).
    """
    from rmsweep.launch._head import free_ports

    checkpoint_dir = Path(checkpoint_dir).resolve()
    for role, path in (("train", train_file), ("val", val_file)):
        if path is not None:
            _check_rows(role, Path(path), settings.train_batch_size)
    argv = [
        python or sys.executable,
        "-m",
        SFT_MODULE,
        *sft_overrides(
            settings,
            model_path=model_path,
            train_file=Path(train_file).resolve(),
            val_file=None if val_file is None else Path(val_file).resolve(),
            checkpoint_dir=checkpoint_dir,
            run_id=run_id,
        ),
    ]
    (port,) = free_ports(1)
    env = sft_env(settings, port=port, tracking_uri=tracking_uri, run_id=run_id)
    return SFTCommand(
        argv=argv,
        env=env,
        verl_checkpoint_dir=checkpoint_dir / VERL_CHECKPOINT_SUBDIR,
        model_dir=checkpoint_dir / MODEL_SUBDIR,
    )


def _check_rows(role: str, path: Path, batch_size: int) -> None:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_metadata(path).num_rows
    except (OSError, ValueError) as err:
        raise ConfigError(f"sft {role} file {path}: cannot read as parquet ({err})") from None
    if rows < batch_size:
        raise ConfigError(
            f"sft {role} file {path} has {rows} rows, fewer than sft.train_batch_size="
            f"{batch_size}: veRL drops incomplete batches, so it would {role} on none "
            "(data.n_val sets how many rows validation takes)"
        )


def export_model(command: SFTCommand) -> Path:
    """Move the model veRL saved at the last step to ``command.model_dir`` (a Hugging Face
    folder whose config states the dtype it was trained in) and drop veRL's checkpoint folder.

    Raises:
        CheckpointError: veRL saved no Hugging Face model (the run failed or never finished).
    """
    from rmsweep.checkpoint import export

    return export(command.verl_checkpoint_dir, command.model_dir, hf_subdir=HF_SUBDIR)


# --- a tracked run (rmsweep run sft): the resolved config's ``sft`` section, as a Ray job ----
def settings_of(cfg: DictConfig) -> SFTSettings:
    """The SFT settings of a resolved config (``sft.*``, ``seed``, ``device.name``)."""
    s = cfg.sft
    return SFTSettings(
        lr=float(s.lr),
        train_batch_size=s.train_batch_size,
        micro_batch_size=s.micro_batch_size,
        max_length=s.max_length,
        total_steps=s.total_steps,
        seed=cfg.seed,
        device=cfg.device.name,
        attention=cfg.device.attention,
    )


def check_data(cfg: DictConfig, train_file: Path, val_file: Path, model_path: str) -> None:
    """Before an SFT run exists: its settings are valid, it asks for one GPU at most, each
    split fills a batch and every row fits ``sft.max_length`` tokens of the model's tokenizer
    (veRL's SFT dataset fails on a longer one, mid-run).

    Raises:
        ConfigError: naming the setting, or the file and row.
    """
    settings = settings_of(cfg)
    check_gpus(cfg)
    for role, path in (("train", train_file), ("val", val_file)):
        _check_rows(role, Path(path), settings.train_batch_size)
        _check_lengths(Path(path), model_path, settings.max_length)


def check_gpus(cfg: DictConfig) -> None:
    """An SFT run asks for one GPU (``device=gpu``) or none.

    Raises:
        ConfigError: ``device.gpus_per_node × device.nnodes`` is not 1 on a GPU.
    """
    gpus = cfg.device.gpus_per_node * cfg.device.nnodes
    if cfg.device.name == "gpu" and gpus != 1:
        raise ConfigError(
            f"SFT runs as one process on one GPU; device.gpus_per_node × device.nnodes is "
            f"{gpus}: set both to 1 (multi-GPU SFT is not built yet)"
        )


def _check_lengths(path: Path, model_path: str, max_length: int) -> None:
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    try:  # a hub name or a folder only the cluster has: veRL checks in the job
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError):
        return
    tokenizer.model_max_length = 1 << 30  # measuring here, not truncating: no warning
    rows = pq.read_table(path, columns=["messages"]).column("messages").to_pylist()
    for i, messages in enumerate(rows):
        encoded: Any = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
        length = len(encoded["input_ids"])
        if length > max_length:
            raise ConfigError(
                f"{path}: row {i}: {length} tokens, more than sft.max_length={max_length} "
                "(raise it, or drop the longest traces)"
            )


def job_spec(cfg: DictConfig, inputs: JobInputs) -> JobSpec:
    """What an SFT run's job does: veRL's SFT trainer, then the model's export (and its
    evaluation when the config names benchmarks), as for GRPO."""
    from rmsweep.evaluation._settings import EvalSettings
    from rmsweep.verl import JobSpec

    evaluation = EvalSettings.from_config(cfg)
    overrides = sft_overrides(
        settings_of(cfg),
        model_path=inputs.model_path,
        train_file=inputs.train_file,
        val_file=inputs.val_file,
        checkpoint_dir=inputs.checkpoint_dir,
        run_id=inputs.run_id,
    )
    return JobSpec(
        trainer_args=overrides,
        verl_checkpoint_dir=str(inputs.checkpoint_dir / VERL_CHECKPOINT_SUBDIR),
        model_dir=str(inputs.checkpoint_dir / MODEL_SUBDIR),
        artifact_max_mb=float(cfg.checkpoint.artifact_max_mb),
        eval=evaluation.to_dict() if evaluation.benches else None,
        trainer_module=SFT_MODULE,
        hf_subdir=HF_SUBDIR,
    )


def submit_env(cfg: DictConfig, inputs: JobInputs) -> dict[str, str]:
    """The SFT job's environment (its trainer is one process: no Ray inside the job)."""
    env = sft_env(
        settings_of(cfg), port=None, tracking_uri=inputs.tracking_uri, run_id=inputs.run_id
    )
    if cfg.device.threads is not None:
        env["OMP_NUM_THREADS"] = str(cfg.device.threads)
    return env
