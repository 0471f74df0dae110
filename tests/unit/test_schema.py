"""configs/ against rmsweep.schema: one set of keys, and the default options hold the defaults.

The rule: every option file of a group holds exactly its schema class's keys (a nested section
given as a mapping, such as ``model.tiny``, is held to its own class); the default option of
each group (configs/config.yaml's ``defaults``) and config.yaml's own keys hold the schema's
default values. A key the schema leaves MISSING (``???``) has no default: the option must set
it. An interpolation (``${…}``) is computed when the config is composed, so it has no value to
compare.
"""

from __future__ import annotations

import shutil
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING, OmegaConf

from reward_fns.shapes import DEFAULTS as SHAPE_DEFAULTS
from rmsweep.config import config_dir
from rmsweep.schema import GROUPS, RunConf, group_defaults


def _load(path: Path) -> Any:
    """A YAML file as Hydra reads it (OmegaConf's number rules), interpolations unresolved."""
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def _section(conf: type, key: str) -> type | None:
    """The schema class of ``conf.key`` when that key holds a nested section, else None."""
    hint = typing.get_type_hints(conf)[key]
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next((c for c in candidates if isinstance(c, type) and is_dataclass(c)), None)


def _key_drift(values: dict[str, Any], conf: type, where: str) -> list[str]:
    keys = [f.name for f in fields(conf)]
    problems = [f"{where}: {k} is not in {conf.__name__}" for k in values if k not in keys]
    problems += [f"{where}: {k} of {conf.__name__} is missing" for k in keys if k not in values]
    for key in set(keys) & set(values):
        nested = _section(conf, key)
        if nested is not None and isinstance(values[key], dict):
            problems += _key_drift(values[key], nested, f"{where}: {key}")
    return problems


def _value_drift(values: dict[str, Any], conf: type, where: str) -> list[str]:
    problems = []
    defaults = group_defaults(conf)
    for key, value in values.items():
        nested = _section(conf, key)
        if nested is not None and isinstance(value, dict):
            problems += _value_drift(value, nested, f"{where}.{key}")
        elif isinstance(value, str) and "${" in value:
            continue
        elif defaults.get(key) == MISSING:
            if value is None:
                problems.append(f"{where}.{key}: the schema has no default, so it must be set")
        elif key in defaults and value != defaults[key]:
            problems.append(f"{where}.{key}: YAML says {value!r}, the schema {defaults[key]!r}")
    return problems


def drift(root: Path) -> list[str]:
    """Every disagreement between the config tree at ``root`` and the schema."""
    problems = []
    for group, conf in GROUPS.items():
        for option in sorted((root / group).glob("*.yaml")):
            problems += _key_drift(_load(option), conf, f"{group}/{option.name}")
    top = _load(root / "config.yaml")
    for entry in top.pop("defaults"):
        if isinstance(entry, dict):
            ((group, option),) = entry.items()
            path = root / group / f"{option}.yaml"
            problems += _value_drift(_load(path), GROUPS[group], f"{group}/{option}.yaml: {group}")
    run_keys = {k: v for k, v in group_defaults(RunConf).items() if k not in GROUPS}
    problems += [f"config.yaml: {k} is missing" for k in run_keys if k not in top]
    problems += _value_drift(top, RunConf, "config.yaml:")
    return problems


def test_the_config_tree_and_the_schema_agree() -> None:
    assert drift(config_dir()) == []


def test_a_drifted_default_or_key_is_named(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    tiny = root / "model" / "tiny.yaml"
    tiny.write_text(tiny.read_text().replace("initializer_range: 0.05", "initializer_range: 0.02"))
    trainer = root / "trainer" / "grpo_gpu.yaml"
    trainer.write_text(trainer.read_text() + "warmup: 3\n")
    (root / "device" / "gpu.yaml").write_text("name: gpu\nrollout: vllm\n")
    problems = drift(root)
    assert "model/tiny.yaml: model.tiny.initializer_range: YAML says 0.02, the schema 0.05" in (
        problems
    )
    assert "trainer/grpo_gpu.yaml: warmup is not in TrainerConf" in problems
    assert "device/gpu.yaml: nnodes of DeviceConf is missing" in problems


def test_reward_defaults_come_from_reward_fns() -> None:
    reward = group_defaults(GROUPS["reward"])
    assert {key: reward[key] for key in SHAPE_DEFAULTS} == SHAPE_DEFAULTS
