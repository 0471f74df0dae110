"""Data configs: ``configs/data/*.yaml`` keys, their defaults and their checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmsweep.data._helpsteer2 import ATTRIBUTES
from rmsweep.errors import ConfigError
from rmsweep.templates import config_dir

DATA_DEFAULTS: dict[str, Any] = {
    "name": "synthetic",
    "source": "synthetic",
    "task": "pointwise",
    "path": None,
    "attribute": "helpfulness",
    "n_train": 2000,
    "n_val": 200,
    "val_fraction": 0.1,
    "seed": 0,
    "strict": False,
    "max_rows": None,
}
SOURCE_TASKS = {
    "synthetic": ("pointwise", "pairwise"),
    "helpsteer2": ("pointwise",),
    "pairs": ("pairwise",),
    "ultrafeedback": ("pointwise", "pairwise"),
}


def repo_root() -> Path:
    """The repository root (relative data paths resolve against it)."""
    return Path(__file__).resolve().parents[3]


def load_data_config(name: str) -> dict[str, Any]:
    """Read and validate ``configs/data/<name>.yaml``.

    Raises:
        ConfigError: The file is missing or holds an unknown or invalid key.
    """
    import yaml

    path = config_dir() / "data" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"unknown data config {name!r}: no {path} (known: {', '.join(known)})")
    return validate_data_config(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


def validate_data_config(cfg: Mapping[str, Any], origin: str = "data config") -> dict[str, Any]:
    """Fill defaults and check every key; returns a plain dict.

    Raises:
        ConfigError: Naming the key, the bad value and the valid options.
    """
    unknown = sorted(set(cfg) - set(DATA_DEFAULTS))
    if unknown:
        raise ConfigError(f"{origin}: unknown keys {unknown}; valid: {sorted(DATA_DEFAULTS)}")
    c = {**DATA_DEFAULTS, **{k: cfg[k] for k in cfg}}
    if c["source"] not in SOURCE_TASKS:
        raise ConfigError(f"{origin}: source={c['source']!r}; valid: {sorted(SOURCE_TASKS)}")
    if c["task"] not in SOURCE_TASKS[c["source"]]:
        raise ConfigError(
            f"{origin}: source {c['source']!r} supports task {SOURCE_TASKS[c['source']]}, "
            f"got {c['task']!r}"
        )
    if not isinstance(c["name"], str) or not c["name"]:
        raise ConfigError(f"{origin}: name must be a non-empty string (it is the data_source)")
    if c["source"] == "synthetic" and "synthetic" not in c["name"]:
        raise ConfigError(
            f"{origin}: a synthetic source's name must say 'synthetic', got {c['name']!r}"
        )
    if c["attribute"] not in ATTRIBUTES:
        raise ConfigError(f"{origin}: attribute={c['attribute']!r}; valid: {ATTRIBUTES}")
    for key in ("n_train", "n_val", "max_rows"):
        if c[key] is not None and (not isinstance(c[key], int) or c[key] < 1):
            raise ConfigError(f"{origin}: {key} must be a positive integer or null, got {c[key]!r}")
    if not isinstance(c["val_fraction"], int | float) or not 0 < c["val_fraction"] < 1:
        raise ConfigError(f"{origin}: val_fraction must be in (0, 1), got {c['val_fraction']!r}")
    if not isinstance(c["seed"], int) or not isinstance(c["strict"], bool):
        raise ConfigError(f"{origin}: seed must be an integer and strict true or false")
    return c


def make_data_config(
    base: str | None = None, source: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A data config from ``configs/data/<base>.yaml`` (chosen from ``source`` and ``task``
    when not given) with the non-None ``overrides`` applied, validated.

    ``source="pairs"`` has no file of its own: it starts from the defaults, named "pairs".
    """
    task = overrides.get("task")
    if base is None:
        source = source or "synthetic"
        if source == "ultrafeedback":
            base = f"ultrafeedback_{task or 'pointwise'}"
        elif source != "pairs":
            base = source
    if base is None:
        cfg = {**DATA_DEFAULTS, "name": "pairs", "task": "pairwise", "n_train": None, "n_val": None}
    else:
        cfg = load_data_config(base)
    if source is not None:
        cfg["source"] = source
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return validate_data_config(cfg, f"data config {base or source!r}")
