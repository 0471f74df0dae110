"""A job's plan: veRL's config composed as the job composes it, validated, described."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep.verl_check._memory import CARD_GIB, DTYPE_BYTES, GIB, fsdp_gib, parameter_count
from rmsweep.verl_check._verl import compose_verl, uses_reference, validate_grpo, validate_sft

if TYPE_CHECKING:
    from omegaconf import DictConfig

PLACEHOLDER_RUN_ID = "0" * 32  # where the job would name its MLflow run


@dataclass(frozen=True)
class JobPlan:
    """What one stage's job will ask for, as veRL's composed config says."""

    stage: str  # "grpo" or "sft"
    trainer: str  # the Python module the job runs
    gpus_per_node: int
    nnodes: int
    rollout: str | None  # "vllm, tensor parallel 1"; None for SFT
    batches: str
    lengths: str
    attention: str
    parameters: int | None
    parameters_from: str
    memory: list[tuple[str, float]] = field(default_factory=list)  # (what, GiB per GPU)
    warnings: list[str] = field(default_factory=list)  # veRL's, as it printed or warned them
    notes: list[str] = field(default_factory=list)  # rmsweep's

    @property
    def memory_gib(self) -> float:
        """The estimate's total per GPU (0 when the parameter count is unknown)."""
        return sum(gib for _, gib in self.memory)

    def rows(self) -> list[tuple[str, str]]:
        """The plan as (what, value) rows, for a table."""
        gpus = f"{self.gpus_per_node} per node × {self.nnodes} node" + "s" * (self.nnodes > 1)
        size = "unknown" if self.parameters is None else _count_text(self.parameters)
        rows = [
            ("stage", f"{self.stage} ({self.trainer})"),
            ("GPUs", gpus),
            *([("rollout", self.rollout)] if self.rollout else []),
            ("batches", self.batches),
            ("lengths", self.lengths),
            ("attention", self.attention),
            ("parameters", f"{size} ({self.parameters_from})"),
        ]
        rows += [(f"memory: {what}", f"{gib:.2f} GiB per GPU") for what, gib in self.memory]
        if self.memory:
            total = f"{self.memory_gib:.2f} GiB per GPU, activations not included"
            rows.append(("memory: total", total))
        rows += [("veRL warns", text) for text in self.warnings]
        rows += [("note", text) for text in self.notes]
        return rows


def _count_text(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return str(n)


def check(cfg: DictConfig, stage: str = "grpo") -> list[JobPlan]:
    """Compose and validate the veRL config of each stage a run of ``cfg`` runs.

    Args:
        cfg: A resolved rmsweep config.
        stage: ``"grpo"`` (``run train``, a study's trials; SFT first when ``sft.traces`` is
            set) or ``"sft"`` (``run sft``).

    Returns:
        One plan per stage, in the order the job runs them.

    Raises:
        ConfigError: veRL rejects the config; the message is veRL's, on one line, with the
            rmsweep keys that set what it names.
    """
    from rmsweep.stages import check_stage_data

    check_stage_data(cfg, stage)  # what the run refuses before veRL sees anything
    plans = []
    if stage == "sft" or cfg.sft.traces is not None:
        plans.append(_check_sft(cfg))
    if stage == "grpo":
        plans.append(_check_grpo(cfg))
    return plans


def _inputs(cfg: DictConfig) -> Any:
    from rmsweep.verl import JobInputs

    workdir = Path(cfg.workdir)
    return JobInputs(
        train_file=workdir / "data" / "train.parquet",
        val_file=workdir / "data" / "val.parquet",
        model_path=cfg.model.path or str(workdir / "models" / "tiny"),
        run_id=PLACEHOLDER_RUN_ID,
        tracking_uri=str(cfg.tracking.uri),
        checkpoint_dir=workdir / "checkpoints" / PLACEHOLDER_RUN_ID,
    )


def _check_grpo(cfg: DictConfig) -> JobPlan:
    from rmsweep import verl

    composed = compose_grpo(cfg)
    warned = validate_grpo(composed)
    notes = []
    arr = composed.actor_rollout_ref
    rollout = arr.rollout
    params, source = parameter_count(cfg)
    world = composed.trainer.n_gpus_per_node * composed.trainer.nnodes
    actor, ref = arr.actor.fsdp_config, arr.ref.fsdp_config
    memory: list[tuple[str, float]] = []
    if params is not None:
        memory.append(("actor (FSDP: weights, grads, AdamW)", fsdp_gib(params, actor, world)))
        if uses_reference(composed):
            memory.append(("reference model (FSDP)", fsdp_gib(params, ref, world, train=False)))
        tp = rollout.tensor_model_parallel_size
        weights = params * DTYPE_BYTES.get(str(rollout.dtype), 2) / tp / GIB
        memory.append((f"{rollout.name} rollout weights", weights))
    if rollout.name == "vllm":
        notes.append(
            f"vLLM reserves {rollout.gpu_memory_utilization:.0%} of each GPU's memory "
            "(weights and KV cache; device.gpu_memory_utilization)"
        )
    notes += _memory_notes(memory, cfg.device.name, _MORE_GPUS)
    return JobPlan(
        stage="grpo",
        trainer=verl.job_module(cfg),
        gpus_per_node=composed.trainer.n_gpus_per_node,
        nnodes=composed.trainer.nnodes,
        rollout=f"{rollout.name}, tensor parallel {rollout.tensor_model_parallel_size}",
        batches=(
            f"{composed.data.train_batch_size} prompts × {rollout.n} samples a step; "
            f"updates of {arr.actor.ppo_mini_batch_size} prompts; "
            f"{arr.actor.ppo_micro_batch_size_per_gpu} sequences per GPU per pass"
        ),
        lengths=(
            f"prompt ≤ {composed.data.max_prompt_length}, "
            f"response ≤ {composed.data.max_response_length} tokens"
        ),
        attention=_attention(arr.model),
        parameters=params,
        parameters_from=source,
        memory=memory,
        warnings=warned,
        notes=notes,
    )


_MORE_GPUS = "raise device.gpus_per_node or device.nnodes (FSDP shards the actor and reference)"
_ONE_GPU = "SFT runs on one GPU (multi-GPU SFT is not built yet): use a smaller model"


def _memory_notes(memory: list[tuple[str, float]], device: str, advice: str) -> list[str]:
    total = sum(gib for _, gib in memory)
    if device != "gpu" or total <= CARD_GIB:
        return []
    return [f"the estimate ({total:.0f} GiB per GPU) exceeds an {CARD_GIB} GiB GPU: {advice}"]


def compose_grpo(cfg: DictConfig) -> DictConfig:
    """veRL's ``ppo_trainer`` config as the GRPO job of ``cfg`` composes it."""
    from rmsweep import verl

    return compose_verl("ppo_trainer", verl.main_ppo_overrides(cfg, _inputs(cfg)))


def _check_sft(cfg: DictConfig) -> JobPlan:
    from rmsweep import sft

    sft.check_gpus(cfg)
    inputs = _inputs(cfg)
    settings = sft.settings_of(cfg)
    overrides = sft.sft_overrides(
        settings,
        model_path=inputs.model_path,
        train_file=inputs.train_file,
        val_file=inputs.val_file,
        checkpoint_dir=inputs.checkpoint_dir,
        run_id=inputs.run_id,
    )
    composed = compose_verl("sft_trainer_engine", overrides)
    warned = validate_sft(composed)
    params, source = parameter_count(cfg)
    memory = []
    if params is not None:
        memory.append(("model (FSDP: weights, grads, AdamW)", fsdp_gib(params, None, 1)))
    return JobPlan(
        stage="sft",
        trainer=sft.SFT_MODULE,
        gpus_per_node=1,
        nnodes=1,
        rollout=None,
        batches=(
            f"{composed.data.train_batch_size} sequences a step; "
            f"{composed.data.micro_batch_size_per_gpu} per pass "
            f"(≤ {composed.data.max_token_len_per_gpu} tokens)"
        ),
        lengths=f"prompt + trace ≤ {composed.data.max_length} tokens",
        attention=_attention(composed.model),
        parameters=params,
        parameters_from=source,
        memory=memory,
        warnings=warned,
        notes=_memory_notes(memory, cfg.device.name, _ONE_GPU),
    )


def _attention(model: DictConfig) -> str:
    override = model.get("override_config") or {}
    attention = str(override.get("attn_implementation", "flash_attention_2"))
    if attention == "flash_attention_2":
        return attention + " (needs flash-attn on the nodes)"
    return attention
