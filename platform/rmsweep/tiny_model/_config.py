"""The ``model.tiny`` settings: read from the model config, checked, and hashed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rmsweep.errors import ConfigError

# Sequence budget of the tiny model; veRL's prompt + response caps must fit inside it.
MAX_POSITIONS = 512


@dataclass(frozen=True)
class TinyConfig:
    """Validated ``model.tiny`` values (see configs/model/tiny.yaml)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    vocab_size: int
    warmstart_steps: int
    warmstart_batch_size: int
    warmstart_lr: float
    true_label_prob: float
    # Learning the label mapping is a sudden jump somewhere in the warm-start, at a step that
    # varies with the seed; stopping at the first check that reaches this held-out greedy
    # accuracy (0: never) gives RL a start with some signal but room to improve.
    warmstart_target_acc: float = 0.0
    warmstart_check_every: int = 10
    initializer_range: float = 0.02  # larger than Qwen2's 0.02 makes the jump come earlier

    @classmethod
    def from_model_cfg(cls, model_cfg: Mapping[str, Any]) -> TinyConfig:
        """Read and check ``model_cfg["tiny"]``.

        Raises:
            ConfigError: a key is missing, unknown, of the wrong type or out of range.
        """
        tiny = model_cfg.get("tiny") if isinstance(model_cfg, Mapping) else None
        if not isinstance(tiny, Mapping):
            raise ConfigError(
                f"model.tiny must be a mapping of the tiny model's settings, got {tiny!r}; "
                "use model=tiny (configs/model/tiny.yaml)"
            )
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(tiny) - set(fields))
        if unknown:
            raise ConfigError(
                f"model.tiny has unknown key(s) {unknown}; valid keys: {sorted(fields)}"
            )
        defaults = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
        missing = sorted(set(fields) - set(tiny) - defaults)
        if missing:
            raise ConfigError(f"model.tiny is missing key(s) {missing}")
        values: dict[str, Any] = {}
        for name, type_name in fields.items():
            if name not in tiny:
                continue
            value = tiny[name]
            if type_name == "int":
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                value = float(value) if ok else value
            if not ok or (type_name == "float" and not math.isfinite(value)):
                raise ConfigError(f"model.tiny.{name} must be {type_name}, got {value!r}")
            values[name] = value
        cfg = cls(**values)
        cfg._check_ranges()
        return cfg

    def _check_ranges(self) -> None:
        positive = (
            "hidden_size",
            "num_layers",
            "num_heads",
            "vocab_size",
            "warmstart_batch_size",
            "warmstart_check_every",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"model.tiny.{name} must be >= 1, got {getattr(self, name)}")
        if self.warmstart_steps < 0:
            raise ConfigError(
                f"model.tiny.warmstart_steps must be >= 0, got {self.warmstart_steps}"
            )
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"model.tiny.hidden_size must be a multiple of model.tiny.num_heads, got "
                f"hidden_size={self.hidden_size}, num_heads={self.num_heads}"
            )
        if (self.hidden_size // self.num_heads) % 2:
            raise ConfigError(
                "model.tiny.hidden_size / num_heads (the head size) must be even for rotary "
                f"embeddings, got {self.hidden_size}/{self.num_heads}"
            )
        if not self.warmstart_lr > 0:
            raise ConfigError(f"model.tiny.warmstart_lr must be > 0, got {self.warmstart_lr}")
        if not 0.0 <= self.warmstart_target_acc <= 1.0:
            raise ConfigError(
                f"model.tiny.warmstart_target_acc must be in [0, 1], got {self.warmstart_target_acc}"
            )
        if not self.initializer_range > 0:
            raise ConfigError(
                f"model.tiny.initializer_range must be > 0, got {self.initializer_range}"
            )
        if not 0.0 <= self.true_label_prob <= 1.0:
            raise ConfigError(
                f"model.tiny.true_label_prob must be in [0, 1], got {self.true_label_prob}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The values as plain JSON types (the digest's input)."""
        return dataclasses.asdict(self)
