"""The ``model.tiny`` settings, read from the model config (keys, defaults, checks: the schema)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from rmsweep.errors import ConfigError
from rmsweep.schema import TinyModelConf

# Sequence budget of the tiny model; veRL's prompt + response caps must fit inside it.
MAX_POSITIONS = 512


def tiny_config(model_cfg: Mapping[str, Any]) -> TinyModelConf:
    """``model_cfg["tiny"]``, checked; keys it omits take the schema's defaults.

    Raises:
        ConfigError: it is not a mapping, or a key is unknown, of the wrong type or out of range.
    """
    return validate_tiny_model(model_cfg.get("tiny") if isinstance(model_cfg, Mapping) else None)


def validate_tiny_model(tiny: Any) -> TinyModelConf:
    """``model.tiny`` as a checked :class:`TinyModelConf` (omitted keys take its defaults).

    Raises:
        ConfigError: not a mapping, or a key that is unknown, of the wrong type or out of range.
    """
    if not isinstance(tiny, Mapping):
        raise ConfigError(
            f"model.tiny must be a mapping of the tiny model's settings, got {tiny!r}; "
            "use model=tiny (configs/model/tiny.yaml)"
        )
    types = {f.name: f.type for f in fields(TinyModelConf)}
    unknown = sorted(set(tiny) - set(types))
    if unknown:
        raise ConfigError(f"model.tiny has unknown key(s) {unknown}; valid keys: {sorted(types)}")
    values: dict[str, Any] = {}
    for name, type_name in types.items():
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
    conf = TinyModelConf(**values)
    _check_tiny_ranges(conf)
    return conf


def _check_tiny_ranges(t: TinyModelConf) -> None:
    positive = (
        "hidden_size",
        "num_layers",
        "num_heads",
        "vocab_size",
        "warmstart_batch_size",
        "warmstart_check_every",
    )
    for name in positive:
        if getattr(t, name) < 1:
            raise ConfigError(f"model.tiny.{name} must be >= 1, got {getattr(t, name)}")
    if t.warmstart_steps < 0:
        raise ConfigError(f"model.tiny.warmstart_steps must be >= 0, got {t.warmstart_steps}")
    if t.hidden_size % t.num_heads:
        raise ConfigError(
            f"model.tiny.hidden_size must be a multiple of model.tiny.num_heads, got "
            f"hidden_size={t.hidden_size}, num_heads={t.num_heads}"
        )
    if (t.hidden_size // t.num_heads) % 2:
        raise ConfigError(
            "model.tiny.hidden_size / num_heads (the head size) must be even for rotary "
            f"embeddings, got {t.hidden_size}/{t.num_heads}"
        )
    if not t.warmstart_lr > 0:
        raise ConfigError(f"model.tiny.warmstart_lr must be > 0, got {t.warmstart_lr}")
    if not 0.0 <= t.warmstart_target_acc <= 1.0:
        raise ConfigError(
            f"model.tiny.warmstart_target_acc must be in [0, 1], got {t.warmstart_target_acc}"
        )
    if not t.initializer_range > 0:
        raise ConfigError(f"model.tiny.initializer_range must be > 0, got {t.initializer_range}")
    if not 0.0 <= t.true_label_prob <= 1.0:
        raise ConfigError(f"model.tiny.true_label_prob must be in [0, 1], got {t.true_label_prob}")
