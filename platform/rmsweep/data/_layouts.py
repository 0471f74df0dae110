"""Preference-pair layouts: which one a file's rows use, and each row as three plain strings.

- ``prompt/chosen/rejected``: three strings.
- ``chat messages``: ``chosen``/``rejected`` as lists of ``{"role", "content"}`` (``prompt``, if
  present, a string or such a list). Each response is its list's last assistant turn. Without
  ``prompt``, the prompt is the conversation before chosen's last assistant turn (rejected's,
  where it has one, must be the same).
- ``hh-rlhf transcripts`` (Anthropic HH-RLHF): ``chosen``/``rejected`` as whole transcripts
  ``"\\n\\nHuman: …\\n\\nAssistant: …"``, no ``prompt``. Each response is the text after the
  last ``\\n\\nAssistant:``; the conversation before it is the prompt and must be the same in
  both.

A conversation becomes prompt text (``render``) thus: a lone user turn is its content, unchanged
(so single-turn rows give the prompt they always gave); otherwise every turn as ``User: …`` or
``Assistant: …`` (content stripped), separated by a blank line. Other roles (system, tool) are
left out, as they always were.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from rmsweep.data._records import text_problem
from rmsweep.errors import DataError

PLAIN = "prompt/chosen/rejected"
CHAT = "chat messages"
HH = "hh-rlhf transcripts"
ACCEPTED = (
    f"{PLAIN} (three strings); {CHAT} (chosen/rejected as role/content lists, prompt optional); "
    f'{HH} (chosen/rejected as "Human:"/"Assistant:" transcripts, no prompt)'
)
SAMPLE_ROWS = 20  # a file's layout is the one most of its first rows fit

HH_REPLY = "\n\nAssistant:"
HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
HH_ROLES = {"Human": "user", "Assistant": "assistant"}
LABELS = {"user": "User", "assistant": "Assistant"}
DISAGREE = "chosen and rejected disagree on the conversation before the last Assistant turn"


class RowProblem(NamedTuple):
    """Why a row cannot be read: the field to name and the problem."""

    field: str
    problem: str


def row_layout(row: Any) -> str | None:
    """The layout one row fits, judged by its fields; None if it fits none."""
    if not isinstance(row, Mapping) or "chosen" not in row or "rejected" not in row:
        return None
    if any(isinstance(row.get(k), list) for k in ("prompt", "chosen", "rejected")):
        return CHAT
    if "prompt" in row:
        return PLAIN
    if any(isinstance(row[k], str) and HH_REPLY in row[k] for k in ("chosen", "rejected")):
        return HH
    return None


def detect(sample: Iterable[Mapping[str, Any]], where: str) -> str:
    """The layout most of ``sample`` (a file's first object rows) fits.

    Raises:
        DataError: None of them fits a layout; names the fields found and the layouts accepted.
    """
    rows = list(sample)
    votes = Counter(layout for row in rows if (layout := row_layout(row)) is not None)
    if votes:
        return votes.most_common(1)[0][0]
    fields: dict[str, str] = {}
    for row in rows:
        for name, value in row.items():
            fields.setdefault(str(name), _json_type(value))
    found = ", ".join(f"{name} ({kind})" for name, kind in fields.items()) or "none"
    raise DataError(
        f"{where}: rows fit no known pair layout (fields in the first rows: {found}); "
        f"accepted: {ACCEPTED}"
    )


def describe(layouts: Mapping[str, str]) -> str:
    """One short line for a report: the layout, or each file's where they differ."""
    if len(set(layouts.values())) <= 1:
        return next(iter(layouts.values()), "")
    return ", ".join(f"{layout} ({name})" for name, layout in layouts.items())


def as_plain(row: Mapping[str, Any], layout: str) -> Mapping[str, Any] | RowProblem:
    """``row`` with ``prompt``/``chosen``/``rejected`` as read under ``layout`` (other fields
    kept; the three still checked by the caller), or the problem that makes it unreadable."""
    return _hh(row) if layout == HH else _chat(row)


def render(turns: list[tuple[str, Any]]) -> Any:
    """A conversation as prompt text (see the module docstring); None for no turns. A turn
    whose content is not a string comes back as it is, for the caller to report."""
    if not turns:
        return None
    if len(turns) == 1 and turns[0][0] == "user":
        return turns[0][1]
    for _, content in turns:
        if not isinstance(content, str):
            return content
    return "\n\n".join(f"{LABELS[role]}: {content.strip()}" for role, content in turns)


def _chat(row: Mapping[str, Any]) -> Mapping[str, Any] | RowProblem:
    if not any(isinstance(row.get(k), list) for k in ("prompt", "chosen", "rejected")):
        return row
    out = dict(row)
    contexts = {}
    for key in ("chosen", "rejected"):
        if isinstance(messages := row.get(key), list):
            contexts[key], out[key] = _split_last_reply(messages)
    if isinstance(row.get("prompt"), list):
        out["prompt"] = render(_turns(row["prompt"]))
    if not isinstance(out.get("prompt"), str) and "chosen" in contexts:
        out["prompt"] = render(contexts["chosen"])
        other = contexts.get("rejected")
        if contexts["chosen"] and other and other != contexts["chosen"]:
            return RowProblem("rejected", DISAGREE)
    return out


def _turns(messages: list[Any]) -> list[tuple[str, Any]]:
    return [
        (m["role"], m.get("content"))
        for m in messages
        if isinstance(m, Mapping) and isinstance(m.get("role"), str) and m["role"] in LABELS
    ]


def _split_last_reply(messages: list[Any]) -> tuple[list[tuple[str, Any]], Any]:
    """(the turns before the last assistant turn, that turn's content or None)."""
    turns = _turns(messages)
    for i in range(len(turns) - 1, -1, -1):
        if turns[i][0] == "assistant":
            return turns[:i], turns[i][1]
    return turns, None


def _hh(row: Mapping[str, Any]) -> Mapping[str, Any] | RowProblem:
    parts = {}
    for key in ("chosen", "rejected"):
        value: Any = row.get(key)
        if (problem := text_problem(value)) is not None:
            return RowProblem(key, problem)
        head, reply, tail = value.rpartition(HH_REPLY)
        if not reply:
            return RowProblem(key, 'no "Assistant:" turn in the transcript')
        if "\n\nHuman:" in tail:
            return RowProblem(key, "the transcript ends with a Human turn, not an Assistant reply")
        parts[key] = (_hh_turns(head), tail.strip())
    (context, chosen), (other, rejected) = parts["chosen"], parts["rejected"]
    if context != other:
        return RowProblem("rejected", DISAGREE)
    if not any(role == "user" for role, _ in context):
        return RowProblem("chosen", "no Human turn before the last Assistant turn")
    return {**row, "prompt": render(context), "chosen": chosen, "rejected": rejected}


def _hh_turns(transcript: str) -> list[tuple[str, Any]]:
    pieces = HH_TURN.split(transcript)
    turns = [("user", pieces[0].strip())] if pieces[0].strip() else []  # text before any marker
    turns += [(HH_ROLES[pieces[i]], pieces[i + 1].strip()) for i in range(1, len(pieces), 2)]
    return turns


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else type(value).__name__
