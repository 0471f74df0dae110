"""The prepared training parquet, read for the tiny model, and the answer formats it learns."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rmsweep.errors import ConfigError, DataError

PARSERS = ("score", "verdict")
VERDICT_LABELS = ("A", "B")
# Tags the tokenizer keeps whole, so an answer is a few tokens ("<score>" "3" "</score>").
ANSWER_TAGS = ("<score>", "</score>", "<answer>", "</answer>", "[[A]]", "[[B]]")
ROLES = ("system", "user", "assistant")

_PATTERNS = {
    "score": re.compile(r"<score>\s*(-?\d+)\s*</score>"),
    "verdict": re.compile(r"<answer>\s*\[\[([AB])\]\]\s*</answer>"),
}


@dataclass(frozen=True)
class Example:
    """One training row: the chat messages of its prompt and its true label."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    label: str


def check_parser(parser: str) -> None:
    """Raise ConfigError unless ``parser`` is one of PARSERS."""
    if parser not in PARSERS:
        raise ConfigError(f"parser must be one of {list(PARSERS)}, got {parser!r}")


def answer_text(parser: str, label: str) -> str:
    """The well-formed answer for ``label``: ``<score>3</score>`` or ``<answer>[[A]]</answer>``."""
    check_parser(parser)
    return f"<score>{label}</score>" if parser == "score" else f"<answer>[[{label}]]</answer>"


def parse_answer(parser: str, text: str) -> str | None:
    """The label in a completion that is exactly one well-formed answer, else None."""
    check_parser(parser)
    match = _PATTERNS[parser].fullmatch(text.strip())
    return match.group(1) if match else None


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_examples(path: Path, parser: str) -> list[Example]:
    """Read veRL-schema rows (``prompt`` messages, ``reward_model.ground_truth``).

    Raises:
        DataError: the file is missing or unreadable, a column is missing, or a row is bad
            (the message names the file and the row).
    """
    import pyarrow.parquet as pq

    check_parser(parser)
    if not path.is_file():
        raise DataError(f"{path}: training parquet not found")
    try:
        table = pq.read_table(path, columns=["prompt", "reward_model"])
    except Exception as err:  # pyarrow raises several types; all mean the same to the user
        raise DataError(f"{path}: cannot read as a veRL parquet: {err}") from err
    examples = []
    for row, (prompt, reward_model) in enumerate(
        zip(
            table.column("prompt").to_pylist(),
            table.column("reward_model").to_pylist(),
            strict=True,
        )
    ):
        examples.append(_example(path, row, prompt, reward_model, parser))
    if not examples:
        raise DataError(f"{path}: no rows")
    return examples


def _example(path: Path, row: int, prompt: object, reward_model: object, parser: str) -> Example:
    where = f"{path}: row {row}"
    if not isinstance(prompt, list) or not prompt:
        raise DataError(f"{where}: prompt must be a non-empty list of chat messages")
    messages = []
    for message in prompt:
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in ROLES or not isinstance(content, str):
            raise DataError(
                f"{where}: each prompt message needs a role in {list(ROLES)} and a string "
                f"content, got {message!r}"
            )
        messages.append((role, content))
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    truth = str(truth).strip() if truth is not None else None
    # read_examples checked the parser: it is "score" or "verdict".
    if parser == "score":
        if not (truth and re.fullmatch(r"-?\d+", truth)):
            raise DataError(
                f"{where}: reward_model.ground_truth must be an integer score, got {truth!r}"
            )
        return Example(tuple(messages), str(int(truth)))
    if truth is None or truth not in VERDICT_LABELS:
        raise DataError(
            f"{where}: reward_model.ground_truth must be one of {list(VERDICT_LABELS)}, "
            f"got {truth!r}"
        )
    return Example(tuple(messages), truth)


def label_set(examples: list[Example], parser: str) -> tuple[str, ...]:
    """Labels a warm-start target is drawn from: the score range seen, or A/B."""
    if parser == "verdict":
        return VERDICT_LABELS
    scores = [int(e.label) for e in examples]
    return tuple(str(s) for s in range(min(scores), max(scores) + 1))
