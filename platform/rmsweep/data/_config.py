"""Data configs: reading ``configs/data/<name>.yaml`` (keys, defaults and checks: the schema)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmsweep.config import REPO_ROOT, config_dir
from rmsweep.errors import ConfigError
from rmsweep.schema import DATA_DEFAULTS, validate_data_config

FILELESS_SOURCES = ("pairs", "traces")  # sources with no configs/data file (see make_data_config)


def repo_root() -> Path:
    """The repository root (relative data paths resolve against it)."""
    return REPO_ROOT


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


def make_data_config(
    base: str | None = None, source: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A data config from ``configs/data/<base>.yaml`` (chosen from ``source`` and ``task``
    when not given) with the non-None ``overrides`` applied, validated.

    ``source="pairs"`` and ``source="traces"`` start from the defaults, named after the
    source (nothing to read without a path; ``configs/data/traces_pairwise.yaml`` is the
    option a ``run sft`` picks).
    """
    task = overrides.get("task")
    if base is None:
        source = source or "synthetic"
        if source == "ultrafeedback":
            base = f"ultrafeedback_{task or 'pointwise'}"
        elif source not in FILELESS_SOURCES:
            base = source
    if base is None:
        name = source or "pairs"
        cfg = {**DATA_DEFAULTS, "name": name, "task": "pairwise", "n_train": None, "n_val": None}
    else:
        cfg = load_data_config(base)
    if source is not None:
        cfg["source"] = source
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return validate_data_config(cfg, f"data config {base or source!r}")
