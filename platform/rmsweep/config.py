"""Compose configs/ + Hydra overrides into one resolved, validated run config.

The resolved config is the single input of a run: ``rmsweep run train`` composes it,
``rmsweep run reproduce`` reloads it from the MLflow record, and a study trial composes it
from the spec's base overrides plus the trial's sampled values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rmsweep.errors import ConfigError
from rmsweep.schema import CHOICES, RunConf

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    """The Hydra config tree: ``$RMSWEEP_CONFIG_DIR`` or ``<repo>/configs``."""
    return Path(os.environ.get("RMSWEEP_CONFIG_DIR", REPO_ROOT / "configs")).resolve()


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("abspath"):
        OmegaConf.register_new_resolver("abspath", lambda p: str(Path(p).expanduser().resolve()))
    if not OmegaConf.has_resolver("unless_server"):
        OmegaConf.register_new_resolver("unless_server", unless_server)


def unless_server(uri: str, path: str) -> str | None:
    """``path`` for a tracking store this process writes itself (a file, sqlite, a database);
    None for a tracking server (``http(s)://``), which keeps artifacts where it is told to
    (``--artifacts-destination``, ``--default-artifact-root``): hosts that cannot see this
    machine's disk read them there."""
    return None if str(uri).startswith(("http://", "https://")) else path


def _one_line(err: BaseException) -> str:
    text = str(err).split("Config search path")[0]  # Hydra appends its search path: noise here
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines).replace(":;", ":")


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``configs/config.yaml`` with Hydra overrides, resolve it and validate it.

    Args:
        overrides: Hydra override strings (``group=option``, ``key=value``, ``+key=value``).

    Returns:
        The resolved config (every interpolation evaluated, paths absolute), read-only.

    Raises:
        ConfigError: one line naming the bad override, key or value.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    _register_resolvers()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_one_line(err)) from None
    return from_container(OmegaConf.to_container(cfg, resolve=False))


def from_container(data: Any, *, source: str = "config") -> DictConfig:
    """Check a plain (or YAML-loaded) config against the schema, resolve and validate it."""
    _register_resolvers()
    try:
        # Merging into the structured RunConf (a mapping) gives a DictConfig.
        merged = cast(DictConfig, OmegaConf.merge(OmegaConf.structured(RunConf), data))
        OmegaConf.resolve(merged)
        _absolute_eval_paths(merged)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        first = str(err).splitlines()[0]
        raise ConfigError(f"{source}: {key + ': ' if key else ''}{first}") from None
    problems = validate(merged)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    OmegaConf.set_readonly(merged, True)
    return merged


def load_resolved(text: str, *, source: str = "resolved config") -> DictConfig:
    """Rebuild a run config from its recorded YAML (the ``config/resolved.yaml`` artifact)."""
    try:
        data = OmegaConf.create(text)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{source}: {_one_line(err)}") from None
    recorded = OmegaConf.to_container(data)
    device = recorded.get("device") if isinstance(recorded, dict) else None
    if isinstance(device, dict) and "threads" not in device:
        device["threads"] = None  # recorded before device.threads: its jobs ran on Ray's default
    return from_container(recorded, source=source)


def to_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML (what ``--cfg`` prints and the run records)."""
    return OmegaConf.to_yaml(cfg, resolve=True)


def validate(cfg: DictConfig) -> list[str]:
    """Meaning checks the schema's types cannot express; returns every problem found."""
    problems = []
    for key, allowed in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in allowed:
            problems.append(f"{key}={value!r} is not one of {', '.join(allowed)}")
    t = cfg.trainer
    for key in ("lr", "rollout_n", "train_batch_size", "ppo_mini_batch_size", "total_steps"):
        if not t[key] > 0:
            problems.append(f"trainer.{key}={t[key]} must be > 0")
    if t.ppo_mini_batch_size > t.train_batch_size:
        problems.append(
            f"trainer.ppo_mini_batch_size={t.ppo_mini_batch_size} must be <= "
            f"trainer.train_batch_size={t.train_batch_size}"
        )
    elif t.train_batch_size % t.ppo_mini_batch_size:
        problems.append(
            f"trainer.train_batch_size={t.train_batch_size} must be a multiple of "
            f"trainer.ppo_mini_batch_size={t.ppo_mini_batch_size}"
        )
    sequences = t.ppo_mini_batch_size * t.rollout_n
    if t.micro_batch_size_per_gpu <= 0 or sequences % t.micro_batch_size_per_gpu:
        problems.append(
            f"trainer.micro_batch_size_per_gpu={t.micro_batch_size_per_gpu} must divide "
            f"ppo_mini_batch_size*rollout_n={sequences} (veRL splits each update into micro-batches)"
        )
    if cfg.data.task != cfg.template.task:
        problems.append(
            f"data.task={cfg.data.task!r} does not match template.task={cfg.template.task!r}; "
            f"pick a {cfg.data.task} template"
        )
    if cfg.model.path is None and cfg.model.tiny is None and not cfg.model.from_run:
        problems.append("model.path is null: give a hub name or local path (or use model=tiny)")
    threads = cfg.device.threads
    if threads is not None and threads < 1:
        problems.append(f"device.threads={threads} must be >= 1 (or null: Ray's default)")
    if cfg.device.name == "cpu" and cfg.device.rollout != "hf":
        problems.append(f"device.rollout={cfg.device.rollout!r} needs a GPU; on cpu use hf")
    if cfg.device.name == "cpu" and cfg.device.attention != "sdpa":
        problems.append(f"device.attention={cfg.device.attention!r} needs a GPU; on cpu use sdpa")
    if cfg.cluster.name == "ray" and not cfg.cluster.address:
        problems.append("cluster=ray needs cluster.address (or RAY_ADDRESS)")
    if cfg.reward.scale_min >= cfg.reward.scale_max:
        problems.append("reward.scale_min must be < reward.scale_max")
    problems.extend(_eval_problems(cfg))
    return problems


def _eval_problems(cfg: DictConfig) -> list[str]:
    from rmsweep.schema import BENCHMARKS

    problems = []
    for name in BENCHMARKS:
        path = cfg.eval[name]
        if path is not None and not Path(path).exists():
            problems.append(f"eval.{name}={path}: no such file or folder")
    if cfg.eval.limit is not None and cfg.eval.limit <= 0:
        problems.append(f"eval.limit={cfg.eval.limit} must be > 0 (or null: all items)")
    if cfg.eval.batch_size <= 0:
        problems.append(f"eval.batch_size={cfg.eval.batch_size} must be > 0")
    return problems


def _absolute_eval_paths(merged: DictConfig) -> None:
    """Benchmark paths relative to the current directory become absolute (jobs run elsewhere)."""
    from rmsweep.schema import BENCHMARKS

    for name in BENCHMARKS:
        path = merged.eval[name]
        if path is not None:
            merged.eval[name] = str(Path(path).expanduser().resolve())
