"""Prompt templates: ``configs/template/<name>.yaml`` rendered into chat messages.

A template is plain data with the keys ``name``, ``task`` (pointwise | pairwise), ``parser``
(score | verdict: which reward parser reads the answer), ``thinking`` (bool), ``system``
(str or null), ``user`` (the user turn, with placeholders) and ``few_shot`` (a list of worked
examples, each the placeholders' values plus the assistant's ``answer``); the keys and their
checks are ``TemplateConf`` and ``validate_template`` in :mod:`rmsweep.schema`.

Placeholders: ``{prompt}`` and ``{response}`` (pointwise) or ``{response_a}`` and
``{response_b}`` (pairwise), plus ``{scale_min}``/``{scale_max}`` anywhere. Substitution is a
single pass over the template text, so braces inside the data are left alone.

Answer tags (what the reward parsers read): ``<score>N</score>`` for ``parser: score`` and
``<answer>[[A]]</answer>`` / ``<answer>[[B]]</answer>`` for ``parser: verdict`` (RM-R1 style;
see ``reward_fns/parse.py``).

``thinking: true`` means the model should reason before answering. A model with a native
thinking mode gets ``enable_thinking`` from its chat template (the caller sets it and renders
with ``native_thinking=True``); any other model is asked in the text for a ``<think>…</think>``
block before the answer tag.

Example:
    >>> t = load_template("pointwise_plain")
    >>> render(t, {"prompt": "Say hi.", "response": "hi"})[-1]["role"]
    'user'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from rmsweep.config import config_dir
from rmsweep.errors import ConfigError, DataError
from rmsweep.schema import (
    SCALE_MAX,
    SCALE_MIN,
    TEMPLATE_FIELDS,
    TEMPLATE_PLACEHOLDER,
    validate_template,
)

__all__ = [
    "THINK_INSTRUCTION",
    "load_template",
    "render",
    "template_digest",
    "template_text",
    "validate_template",
]

THINK_INSTRUCTION = "Think it through inside <think></think> before you answer."


def load_template(name: str) -> dict[str, Any]:
    """Read and validate ``configs/template/<name>.yaml``.

    Args:
        name: The template's file stem, e.g. ``"pointwise_plain"``.

    Returns:
        The validated template as a plain dict.

    Raises:
        ConfigError: The file is missing or a key is missing or invalid.
    """
    import yaml

    folder = config_dir() / "template"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"unknown template {name!r}: no {path} (known: {', '.join(known)})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    return validate_template(raw, origin=str(path))


def render(
    template: Mapping[str, Any], record: Mapping[str, Any], *, native_thinking: bool = False
) -> list[dict[str, str]]:
    """Render one record into chat messages (deterministic: same inputs, same messages).

    Args:
        template: A template (``load_template`` output or Hydra's ``cfg.template``).
        record: ``prompt`` and ``response`` (pointwise) or ``prompt``, ``response_a`` and
            ``response_b`` (pairwise); optional ``scale_min``/``scale_max`` (default 0–4).
        native_thinking: The model has a native thinking mode (the caller sets the chat
            template's ``enable_thinking``), so the text does not ask for think tags.

    Returns:
        ``[{"role": "system", ...}?, (user, assistant) per few-shot example…, {"role": "user"}]``.

    Raises:
        ConfigError: The template is invalid.
        DataError: The record lacks a field the template needs.
    """
    t = validate_template(template)
    messages = [{"role": "system", "content": t["system"]}] if t["system"] else []
    for example in t["few_shot"]:
        messages.append({"role": "user", "content": _fill(t, example)})
        messages.append({"role": "assistant", "content": example["answer"]})
    user = _fill(t, record)
    if t["thinking"] and not native_thinking:
        user = f"{user}\n{THINK_INSTRUCTION}"
    messages.append({"role": "user", "content": user})
    return messages


def _fill(t: dict[str, Any], record: Mapping[str, Any]) -> str:
    values = {
        "scale_min": str(record.get("scale_min", SCALE_MIN)),
        "scale_max": str(record.get("scale_max", SCALE_MAX)),
    }
    for field in TEMPLATE_FIELDS[t["task"]]:
        value = record.get(field)
        if not isinstance(value, str):
            raise DataError(f"template {t['name']!r} needs a string {field!r} in the record")
        values[field] = value
    return TEMPLATE_PLACEHOLDER.sub(lambda m: values[m.group(1)], t["user"])


def template_text(template: Mapping[str, Any]) -> str:
    """The canonical text of a template; its sha256 is the template digest.

    Sorted-key JSON of the validated template, plus the think instruction when ``thinking``
    is on (the text that instruction adds is part of what the model sees).
    """
    t = validate_template(template)
    if t["thinking"]:
        t["think_instruction"] = THINK_INSTRUCTION
    return json.dumps(t, sort_keys=True, indent=2, ensure_ascii=False)


def template_digest(template: Mapping[str, Any]) -> str:
    """sha256 hex of ``template_text(template)``."""
    return hashlib.sha256(template_text(template).encode("utf-8")).hexdigest()
