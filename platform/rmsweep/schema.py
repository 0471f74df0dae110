"""The config schema: every group's keys, types, defaults, allowed values and checks.

configs/*.yaml hold the options users pick; this module holds their shape, and is the one
place that does. ``config.compose`` merges the composed YAML onto :class:`RunConf`, so a
misspelt key or a wrongly typed value fails before anything runs; code that reads one group
on its own (data preparation, the tiny model, templates) takes its defaults and checks from
here too. Every option file lists every key of its group, and each group's default option (the
``defaults`` list of configs/config.yaml) holds exactly the defaults below; test_schema.py
fails when they drift apart. The defaults still matter for a recorded config that predates a
key and for a group read from a partial mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

from omegaconf import MISSING

from reward_fns.pairwise import MODES as PAIRWISE_MODES
from reward_fns.shapes import DEFAULT_K, DEFAULT_SHAPE, DEFAULT_SIGMA, SHAPES
from reward_fns.shapes import SCALE_MAX as SCALE_MAX  # re-exported: configs read the bounds here
from reward_fns.shapes import SCALE_MIN as SCALE_MIN
from rmsweep.errors import ConfigError

BENCHMARKS = ("rewardbench", "rmbench", "rmb")  # the eval.<name> keys
TASKS = ("pointwise", "pairwise")
TEMPLATE_PARSERS = {"pointwise": "score", "pairwise": "verdict"}  # task -> the parser reading it
TEMPLATE_FIELDS = {  # task -> the record fields its user text must place
    "pointwise": ("prompt", "response"),
    "pairwise": ("prompt", "response_a", "response_b"),
}
TEMPLATE_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
DATA_SOURCE_TASKS = {
    "synthetic": ("pointwise", "pairwise"),
    "helpsteer2": ("pointwise",),
    "pairs": ("pairwise",),
    "ultrafeedback": ("pointwise", "pairwise"),
    "traces": ("pairwise",),  # SFT rows for veRL's SFT trainer (rmsweep.data._traces)
}
HELPSTEER2_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")

# Allowed values of string keys (OmegaConf checks types; these lists check meaning).
CHOICES: dict[str, tuple[str, ...]] = {
    "device.name": ("cpu", "gpu"),
    "device.rollout": ("hf", "vllm", "sglang"),
    "device.attention": ("flash_attention_2", "sdpa"),
    "data.source": tuple(DATA_SOURCE_TASKS),
    "data.task": TASKS,
    "template.task": TASKS,
    "template.parser": tuple(TEMPLATE_PARSERS.values()),
    "reward.shape": SHAPES,
    "reward.pairwise_mode": tuple(PAIRWISE_MODES),
    "cluster.name": ("local", "ray"),
}


@dataclass
class DeviceConf:
    name: str = MISSING
    rollout: str = MISSING
    gpus_per_node: int = 1
    nnodes: int = 1
    gpu_memory_utilization: float = 0.5
    threads: int | None = 2  # torch/OpenMP threads of every job process; null: Ray's (one)
    attention: str = "sdpa"  # the trainer's attention kernels: flash_attention_2 | sdpa


@dataclass
class TinyModelConf:
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    vocab_size: int = 400
    warmstart_steps: int = 600  # at most
    warmstart_batch_size: int = 64
    warmstart_lr: float = 1e-3
    true_label_prob: float = 0.2
    # Learning the label mapping is a sudden jump somewhere in the warm-start, at a step that
    # varies with the seed; stopping at the first check that reaches this held-out greedy
    # accuracy (0: never) gives RL a start with some signal but room to improve.
    warmstart_target_acc: float = 0.4
    warmstart_check_every: int = 10
    initializer_range: float = 0.05  # larger than Qwen2's 0.02: the jump comes earlier


@dataclass
class ModelConf:
    name: str = MISSING
    path: str | None = None  # hub name or local path; null only for the tiny model
    native_thinking: bool = False
    tiny: TinyModelConf | None = None
    from_run: str | None = None  # a run id: start from its trained model (rmsweep.parent_stage)
    # Parameter count, for `--check`'s memory estimate where the checkpoint's config is not
    # on this machine (else counted from that config).
    parameters: float | None = None


@dataclass
class DataConf:
    # Defaults are configs/data/synthetic.yaml: `rmsweep data prepare` works with no options.
    name: str = "synthetic"  # also the parquet's data_source, hence part of metric keys
    source: str = "synthetic"
    task: str = "pointwise"
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
    shape: str = DEFAULT_SHAPE
    k: float = DEFAULT_K
    sigma: float = DEFAULT_SIGMA
    scale_min: int = SCALE_MIN
    scale_max: int = SCALE_MAX
    format_penalty: float = 0.0
    pairwise_mode: str = "signed"


@dataclass
class TrainerConf:
    # Defaults are configs/trainer/grpo_tiny.yaml, the tiny model's recipe on a CPU.
    lr: float = MISSING
    warmup_steps: int = 0
    rollout_n: int = 8
    train_batch_size: int = 32
    ppo_mini_batch_size: int = 32
    micro_batch_size_per_gpu: int = 64
    temperature: float = 1.0
    max_prompt_length: int = 192
    max_response_length: int = 10
    use_kl_loss: bool = False
    kl_coef: float = 0.001
    entropy_coeff: float = 0.0
    total_steps: int = MISSING
    test_freq: int = 5
    val_batch_size: int | None = None
    max_val_samples: int | None = 200


@dataclass
class ClusterConf:
    name: str = "local"
    address: str | None = None
    # Custom Ray resources a job's driver asks for on a cluster (where it trains on a CPU,
    # evaluates, or drives veRL), e.g. {worker: 1}; it always asks for one CPU there.
    resources: dict[str, float] | None = None
    # A path every node sees at the same place (NFS, Lustre): the checkout and the work
    # directory under it are read in place. Null: jobs get code and inputs through the run.
    shared_dir: str | None = None


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
class SftConf:
    """``rmsweep run sft`` (veRL's SFT trainer on data.source=traces), or, with ``traces``
    set, a GRPO run's first stage in the same job (a study sweeping ``sft.*``)."""

    traces: str | None = None  # a traces file: SFT on it first, then GRPO from that model
    lr: float = 1e-3
    train_batch_size: int = 16
    micro_batch_size: int = 16  # sequences of max_length per forward pass
    max_length: int = 256  # prompt + trace tokens
    total_steps: int = 20


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
    sft: SftConf = field(default_factory=SftConf)
    checkpoint: CheckpointConf = field(default_factory=CheckpointConf)
    experiment: str = "rmsweep"
    run_name: str | None = None
    seed: int = 0
    workdir: str = ".rmsweep"


# Each config group (a key of RunConf holding a section) and the class of that section.
GROUPS: dict[str, type] = {
    name: hint
    for name, hint in get_type_hints(RunConf).items()
    if isinstance(hint, type) and is_dataclass(hint)
}
TEMPLATE_KEYS = tuple(f.name for f in fields(TemplateConf))


def group_defaults(conf: type) -> dict[str, Any]:
    """A schema class's defaults by key, as plain values (``"???"`` where the option must say)."""
    values: dict[str, Any] = {}
    for f in fields(conf):
        value = f.default if f.default_factory is NO_DEFAULT else f.default_factory()
        if is_dataclass(value) and not isinstance(value, type):  # a nested section
            values[f.name] = asdict(value)
        else:
            values[f.name] = value
    return values


DATA_DEFAULTS: dict[str, Any] = group_defaults(DataConf)


def validate_data_config(cfg: Mapping[str, Any], origin: str = "data config") -> dict[str, Any]:
    """A ``data`` group with the keys it omits filled from :class:`DataConf`, checked.

    Raises:
        ConfigError: Naming the key, the bad value and the valid options.
    """
    unknown = sorted(set(cfg) - set(DATA_DEFAULTS))
    if unknown:
        raise ConfigError(f"{origin}: unknown keys {unknown}; valid: {sorted(DATA_DEFAULTS)}")
    c = {**DATA_DEFAULTS, **{k: cfg[k] for k in cfg}}
    if c["source"] not in DATA_SOURCE_TASKS:
        raise ConfigError(f"{origin}: source={c['source']!r}; valid: {sorted(DATA_SOURCE_TASKS)}")
    if c["task"] not in DATA_SOURCE_TASKS[c["source"]]:
        raise ConfigError(
            f"{origin}: source {c['source']!r} supports task {DATA_SOURCE_TASKS[c['source']]}, "
            f"got {c['task']!r}"
        )
    if not isinstance(c["name"], str) or not c["name"]:
        raise ConfigError(f"{origin}: name must be a non-empty string (it is the data_source)")
    if c["source"] == "synthetic" and "synthetic" not in c["name"]:
        raise ConfigError(
            f"{origin}: a synthetic source's name must say 'synthetic', got {c['name']!r}"
        )
    if c["attribute"] not in HELPSTEER2_ATTRIBUTES:
        raise ConfigError(f"{origin}: attribute={c['attribute']!r}; valid: {HELPSTEER2_ATTRIBUTES}")
    for key in ("n_train", "n_val", "max_rows"):
        if c[key] is not None and (not isinstance(c[key], int) or c[key] < 1):
            raise ConfigError(f"{origin}: {key} must be a positive integer or null, got {c[key]!r}")
    if not isinstance(c["val_fraction"], int | float) or not 0 < c["val_fraction"] < 1:
        raise ConfigError(f"{origin}: val_fraction must be in (0, 1), got {c['val_fraction']!r}")
    if not isinstance(c["seed"], int) or not isinstance(c["strict"], bool):
        raise ConfigError(f"{origin}: seed must be an integer and strict true or false")
    return c


def validate_template(template: object, origin: str | None = None) -> dict[str, Any]:
    """Check a template mapping (a YAML dict or Hydra's DictConfig) and return a plain dict.

    Every key of :class:`TemplateConf` is required: a template's text is what the digest and
    the model see, so none is filled in silently.

    Raises:
        ConfigError: Naming the template and the first key that is missing or invalid.
    """
    if not isinstance(template, Mapping):
        raise ConfigError(
            f"{origin or 'template'}: must be a mapping, not {type(template).__name__}"
        )
    where = origin or f"template {template.get('name', '?')!r}"
    t = _plain(template)
    missing = [k for k in TEMPLATE_KEYS if k not in t]
    extra = sorted(set(t) - set(TEMPLATE_KEYS))
    if missing or extra:
        raise ConfigError(
            f"{where}: missing keys {missing}, unknown keys {extra}; keys: {TEMPLATE_KEYS}"
        )
    if t["task"] not in TEMPLATE_PARSERS:
        raise ConfigError(
            f"{where}: task must be one of {sorted(TEMPLATE_PARSERS)}, got {t['task']!r}"
        )
    if t["parser"] != TEMPLATE_PARSERS[t["task"]]:
        raise ConfigError(
            f"{where}: a {t['task']} template needs parser {TEMPLATE_PARSERS[t['task']]!r}, "
            f"got {t['parser']!r}"
        )
    if not isinstance(t["thinking"], bool):
        raise ConfigError(f"{where}: thinking must be true or false, got {t['thinking']!r}")
    if t["system"] is not None and not isinstance(t["system"], str):
        raise ConfigError(f"{where}: system must be a string or null")
    if not isinstance(t["user"], str) or not t["user"].strip():
        raise ConfigError(f"{where}: user must be a non-empty string")
    _check_placeholders(t, where)
    if not isinstance(t["few_shot"], list):
        raise ConfigError(f"{where}: few_shot must be a list (may be empty)")
    for i, example in enumerate(t["few_shot"]):
        need = (*TEMPLATE_FIELDS[t["task"]], "answer")
        if not isinstance(example, dict) or any(not isinstance(example.get(k), str) for k in need):
            raise ConfigError(f"{where}: few_shot[{i}] needs string keys {list(need)}")
    return t


def _check_placeholders(t: dict[str, Any], where: str) -> None:
    fields_ = TEMPLATE_FIELDS[t["task"]]
    allowed = {*fields_, "scale_min", "scale_max"}
    used = set(TEMPLATE_PLACEHOLDER.findall(t["user"]))
    if used - allowed:
        raise ConfigError(
            f"{where}: user has unknown placeholders {sorted(used - allowed)}; "
            f"a {t['task']} template may use {sorted(allowed)}"
        )
    if set(fields_) - used:
        raise ConfigError(f"{where}: user must contain {sorted('{' + f + '}' for f in fields_)}")
    if t["system"] and TEMPLATE_PLACEHOLDER.search(t["system"]):
        raise ConfigError(f"{where}: system may not contain placeholders")


def _plain(value: Any) -> Any:
    """Deep copy into dicts/lists/scalars (accepts OmegaConf containers without importing it)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value
