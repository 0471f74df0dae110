"""Dataclass schemas for the resolved config: types, required keys and allowed values.

configs/*.yaml hold the values; these classes hold the shape. ``config.compose`` merges the
composed YAML onto them, so a misspelt key or a wrongly typed value fails before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

BENCHMARKS = ("rewardbench", "rmbench", "rmb")  # the eval.<name> keys

# Allowed values of string keys (OmegaConf checks types; these lists check meaning).
CHOICES: dict[str, tuple[str, ...]] = {
    "device.name": ("cpu", "gpu"),
    "device.rollout": ("hf", "vllm", "sglang"),
    "data.source": ("synthetic", "helpsteer2", "pairs", "ultrafeedback"),
    "data.task": ("pointwise", "pairwise"),
    "template.task": ("pointwise", "pairwise"),
    "template.parser": ("score", "verdict"),
    "reward.shape": ("linear", "exponential", "gaussian", "exact"),
    "reward.pairwise_mode": ("signed", "binary"),
    "cluster.name": ("local", "ray"),
}


@dataclass
class DeviceConf:
    name: str = MISSING
    rollout: str = MISSING
    gpus_per_node: int = 1
    nnodes: int = 1
    gpu_memory_utilization: float = 0.5


@dataclass
class TinyModelConf:
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 400
    warmstart_steps: int = 400
    warmstart_batch_size: int = 64
    warmstart_lr: float = 1e-3
    true_label_prob: float = 0.2
    warmstart_target_acc: float = 0.0
    warmstart_check_every: int = 10
    initializer_range: float = 0.02


@dataclass
class ModelConf:
    name: str = MISSING
    path: str | None = None  # hub name or local path; null only for the tiny model
    native_thinking: bool = False
    tiny: TinyModelConf | None = None


@dataclass
class DataConf:
    name: str = MISSING  # also the parquet's data_source, hence part of metric keys
    source: str = MISSING
    task: str = MISSING
    path: str | None = None
    attribute: str = "helpfulness"
    n_train: int | None = 2000  # caps (null: all rows)
    n_val: int | None = 200
    val_fraction: float = 0.1
    seed: int = 0
    strict: bool = False
    max_rows: int | None = None


@dataclass
class TemplateConf:
    name: str = MISSING
    task: str = MISSING
    parser: str = MISSING
    thinking: bool = False
    system: str | None = None
    user: str = MISSING
    few_shot: list[Any] = field(default_factory=list)


@dataclass
class RewardConf:
    shape: str = "exact"
    k: float = 2.0
    sigma: float = 1.0
    scale_min: int = 0
    scale_max: int = 4
    format_penalty: float = 0.0
    pairwise_mode: str = "signed"


@dataclass
class TrainerConf:
    lr: float = MISSING
    warmup_steps: int = 0
    rollout_n: int = 8
    train_batch_size: int = 32
    ppo_mini_batch_size: int = 32
    micro_batch_size_per_gpu: int = 8
    temperature: float = 1.0
    max_prompt_length: int = 512
    max_response_length: int = 512
    use_kl_loss: bool = False
    kl_coef: float = 0.001
    entropy_coeff: float = 0.0
    total_steps: int = MISSING
    test_freq: int = 5
    val_batch_size: int | None = None
    max_val_samples: int | None = None


@dataclass
class ClusterConf:
    name: str = "local"
    address: str | None = None


@dataclass
class TrackingConf:
    uri: str = MISSING
    artifact_root: str | None = None


@dataclass
class EvalConf:
    """Benchmarks the trained model is judged on, in its own job, after training."""

    rewardbench: str | None = None  # a file or folder in each benchmark's published format
    rmbench: str | None = None
    rmb: str | None = None
    limit: int | None = None  # the first N items of each benchmark (null: all)
    batch_size: int = 32  # generations per forward pass
    max_new_tokens: int | None = None  # null: trainer.max_response_length


@dataclass
class CheckpointConf:
    artifact_max_mb: float = 64.0  # the trained model is an MLflow artifact up to this size


@dataclass
class RunConf:
    device: DeviceConf = field(default_factory=DeviceConf)
    model: ModelConf = field(default_factory=ModelConf)
    data: DataConf = field(default_factory=DataConf)
    template: TemplateConf = field(default_factory=TemplateConf)
    reward: RewardConf = field(default_factory=RewardConf)
    trainer: TrainerConf = field(default_factory=TrainerConf)
    cluster: ClusterConf = field(default_factory=ClusterConf)
    tracking: TrackingConf = field(default_factory=TrackingConf)
    eval: EvalConf = field(default_factory=EvalConf)
    checkpoint: CheckpointConf = field(default_factory=CheckpointConf)
    experiment: str = "rmsweep"
    run_name: str | None = None
    seed: int = 0
    workdir: str = ".rmsweep"
