"""The ``model.tiny`` settings, read from the model config (keys, defaults, checks: the schema)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmsweep.schema import TinyModelConf, validate_tiny_model

# Sequence budget of the tiny model; veRL's prompt + response caps must fit inside it.
MAX_POSITIONS = 512


def tiny_config(model_cfg: Mapping[str, Any]) -> TinyModelConf:
    """``model_cfg["tiny"]``, checked; keys it omits take the schema's defaults.

    Raises:
        ConfigError: it is not a mapping, or a key is unknown, of the wrong type or out of range.
    """
    return validate_tiny_model(model_cfg.get("tiny") if isinstance(model_cfg, Mapping) else None)
