"""Secrets: which names look secret, and keeping their values out of everything we log.

A name looks secret when one of its words (split at ``.``, ``_``, ``-`` and camelCase) contains
SECRET, PASSWORD, PASSWD, PASSPHRASE or CREDENTIAL; when it has API/PRIVATE/ACCESS followed by
KEY(S), or AUTH followed by TOKEN; or when it ends in KEY or TOKEN. Two families of
config names end in KEY or TOKEN without being secret, and are recognised by the word before
it: column selectors (``data.prompt_key``, ``reward_fn_key``) and tokenizer special tokens
(``pad_token``, ``eos_token``). ``max_token_len`` or ``TOKENIZERS_PARALLELISM`` do not end in
KEY or TOKEN and are not secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 4  # shorter values would mask ordinary text everywhere

# Matched inside any word (PGPASSWORD, mysecret).
_SECRET_PARTS = ("secret", "password", "passwd", "passphrase", "credential", "apikey", "privatekey")
_SECRET_PAIRS = {
    ("api", "key"), ("api", "keys"), ("private", "key"), ("private", "keys"),
    ("access", "key"), ("access", "keys"), ("auth", "token"), ("access", "token"),
}  # fmt: skip
_BENIGN_BEFORE = {
    "key": {
        "prompt", "response", "reward", "fn", "image", "images", "video", "videos", "audio",
        "input", "output", "label", "sort", "cache", "data", "dataset", "text", "chosen",
        "rejected", "message", "messages", "answer", "question", "target", "source", "column",
        "field", "query", "content", "score", "metric", "group", "partition", "primary",
        "foreign", "hash", "lookup", "index", "extra", "info", "tool", "tools", "truth",
        "modal", "completion", "context", "system", "instruction", "id", "uid", "chat", "row",
    },
    "token": {
        "pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "start", "end", "stop",
        "think", "answer", "image", "video", "audio", "vision", "placeholder", "reasoning",
        "eot", "per", "max", "min", "num", "first", "last",
    },
}  # fmt: skip
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_LITERALS = {"true", "false", "none", "null", "yes", "no"}


def _words(part: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(part)]


def _part_is_secret(part: str) -> bool:
    words = _words(part)
    if any(part in w for w in words for part in _SECRET_PARTS):
        return True
    if any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False)):
        return True
    while words and words[-1].isdigit():  # OPENAI_API_KEY_2
        words.pop()
    if not words or words[-1] not in _BENIGN_BEFORE:
        return False
    return len(words) == 1 or words[-2] not in _BENIGN_BEFORE[words[-1]]


def is_secret_name(name: str) -> bool:
    """Whether a config key or environment variable name looks secret.

    A dotted name is secret when any of its parts is (``api_keys.openai``).

    Args:
        name: e.g. ``HF_TOKEN``, ``trainer.wandb_api_key``, ``data.prompt_key``.

    Returns:
        True for ``HF_TOKEN``, ``OPENAI_API_KEY``, ``db.password``; False for
        ``data.prompt_key``, ``actor.ppo_max_token_len_per_gpu``.
    """
    return any(_part_is_secret(part) for part in name.split("."))


def _usable(value: str) -> bool:
    return len(value) >= MIN_SECRET_LEN and value.strip().lower() not in _LITERALS


def environ_snapshot() -> dict[str, str]:
    """A copy of ``os.environ`` that other threads cannot change under the caller.

    ``dict(os.environ)`` and ``os.environ.items()`` list the keys, then read each one: a
    variable another thread deletes in between (MLflow's telemetry thread does) raises
    KeyError. Listing the keys is atomic; a key gone by the time it is read is left out.
    """
    snapshot = {}
    for key in list(os.environ):
        value = os.environ.get(key)
        if value is not None:
            snapshot[key] = value
    return snapshot


def env_secret_values(env: Mapping[str, str] | None = None) -> set[str]:
    """Values of the secret-named variables of ``env`` (a snapshot of ``os.environ`` when
    None)."""
    env = environ_snapshot() if env is None else env
    return {v for k, v in env.items() if is_secret_name(k) and _usable(v)}


def config_secret_values(cfg: Mapping[str, Any]) -> set[str]:
    """String forms of every leaf value under a secret-named key of ``cfg``."""
    found: set[str] = set()

    def leaves(value: Any) -> None:
        if isinstance(value, Mapping):
            for v in value.values():
                leaves(v)
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            for v in value:
                leaves(v)
        elif value is not None and _usable(str(value)):
            found.add(str(value))

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if is_secret_name(str(key)):
                    leaves(value)
                else:
                    walk(value)
        elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
            for value in node:
                walk(value)

    walk(cfg)
    return found


def override_secret_values(overrides: Sequence[str]) -> set[str]:
    """Values of the ``key=value`` overrides whose key looks secret."""
    found = set()
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and is_secret_name(key.lstrip("+~")) and _usable(value):
            found.add(value)
    return found


def mask_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain copy of ``cfg`` whose secret-named keys hold ``***`` (their subtrees too)."""

    def copy(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: MASK if is_secret_name(str(k)) else copy(v) for k, v in value.items()}
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            return [copy(v) for v in value]
        return value

    return copy(cfg)


def mask_overrides(overrides: Sequence[str]) -> list[str]:
    """``overrides`` with the value of every secret-named ``key=value`` replaced by ``***``."""
    masked = []
    for item in overrides:
        key, sep, _ = item.partition("=")
        masked.append(f"{key}={MASK}" if sep and is_secret_name(key.lstrip("+~")) else item)
    return masked


def redact_secrets(
    text: str,
    env: Mapping[str, str] | None = None,
    *,
    values: Iterable[str] = (),
) -> str:
    """Replace secret values in ``text`` with ``***``.

    Args:
        text: any text about to be logged (artifact, job log, tag or param value).
        env: its secret-named variables' values (at least 4 characters) are masked;
            ``os.environ`` when None.
        values: more values to mask (e.g. from ``config_secret_values``).

    Returns:
        The text with every occurrence of those values masked, longest first.
    """
    secrets = env_secret_values(env) | {v for v in values if _usable(v)}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
