"""The model's size and what a job holds of it per GPU: the parameter count (from the
checkpoint's config where this machine has it) and FSDP's weights, grads and AdamW state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

GIB = 1024**3
DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}
ADAM_BYTES = 8  # AdamW's two fp32 moments per parameter
CARD_GIB = 80  # the largest common training GPU (H100, A100 80GB)


def fsdp_gib(params: int, fsdp: DictConfig | None, world: int, *, train: bool = True) -> float:
    """Weights (and, to train, grads and AdamW's moments) sharded over ``world`` GPUs; what
    veRL offloads to the CPU is not counted."""
    dtype = DTYPE_BYTES.get(str(fsdp.model_dtype if fsdp is not None else "fp32"), 4)
    offload_params = bool(fsdp is not None and fsdp.get("param_offload"))
    offload_optimizer = bool(fsdp is not None and fsdp.get("optimizer_offload"))
    per_param = 0 if offload_params else dtype * (2 if train else 1)
    if train and not offload_optimizer:
        per_param += ADAM_BYTES
    return params * per_param / world / GIB


def parameter_count(cfg: DictConfig) -> tuple[int | None, str]:
    """The model's parameter count and where it came from: its config file when this machine
    has it (a local folder or the Hugging Face cache), else the preset's ``model.parameters``."""
    if cfg.model.path is None:
        from rmsweep.tiny_model import tiny_hf_config

        tiny = cfg.model.tiny
        return _count(tiny_hf_config(tiny, vocab_size=tiny.vocab_size)), "the tiny model's config"
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(cfg.model.path), local_files_only=True)
    except (OSError, ValueError):
        declared = cfg.model.get("parameters")
        if declared is None:
            return None, f"{cfg.model.path} is not on this machine; set model.parameters"
        return int(declared), f"model.parameters; {cfg.model.path} is not on this machine"
    return _count(config), f"{cfg.model.path}'s config"


def _count(config: Any) -> int:
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())
