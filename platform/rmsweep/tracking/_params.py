"""The resolved config as MLflow params: one dotted key per leaf, values as strings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from rmsweep.tracking._secrets import is_secret_name, mask_config

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
TRUNCATED = "...[truncated]"


def param_value(value: Any) -> str:
    """A config value as a param string: YAML-like scalars, JSON for lists, ``null`` for None.

    Values longer than MLflow's 6000-character limit are cut and end in ``...[truncated]``.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, str):
        text = value
    elif is_sequence(value):
        text = json.dumps(_plain(value), default=str)
    elif isinstance(value, PurePath):
        text = str(value)
    else:
        text = str(value)
    if len(text) > MAX_PARAM_VALUE:
        text = text[: MAX_PARAM_VALUE - len(TRUNCATED)] + TRUNCATED
    return text


def is_sequence(value: Any) -> bool:
    """A list-like config value (list, tuple, OmegaConf ListConfig), not a string."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if is_sequence(value):
        return [_plain(v) for v in value]
    return value


def flatten_params(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Flatten a resolved config into MLflow params with stable dotted keys.

    Args:
        cfg: the resolved config: nested mappings (an OmegaConf ``DictConfig`` too); lists
            stay whole.

    Returns:
        ``{"reward.shape": "linear", "trainer.lr": "1e-06", "data.files": '["a", "b"]',
        "reward.k": "null", ...}`` sorted by key. An empty mapping becomes ``"{}"``. Keys with
        a secret-looking part (``is_secret_name``) are left out, their subtrees too; inside a
        list, their values read ``***``.
    """
    flat: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if is_secret_name(str(key)):
                continue
            if isinstance(value, Mapping):
                if value:
                    walk(value, f"{name}.")
                else:
                    flat[name] = "{}"
            else:
                flat[name] = param_value(value)

    walk(mask_config(cfg), "")  # masked too: secrets inside lists of mappings
    return dict(sorted(flat.items()))
