"""Teacher reasoning traces -> SFT data in veRL's multi-turn layout (RM-R1's distillation stage).

Input rows (``.jsonl``/``.json``/``.parquet``/``save_to_disk``, as the ``pairs`` source reads):

- a preference pair in any layout ``pairs`` reads (prompt/chosen/rejected strings, chat
  messages, HH-RLHF transcripts; see ``_layouts``);
- ``chosen_position``: ``"A"`` or ``"B"``, where the chosen response stood in the prompt the
  teacher saw. It is both the order to render and the label: the verdict a right trace gives.
  Name and values are those of a prepared pairwise parquet (``extra_info.chosen_position``,
  ``reward_model.ground_truth``), whose A/B order is drawn at random per row: send those
  rows to the teacher and keep their ``chosen_position`` with its answer;
- ``trace``: the teacher's output, reasoning then the verdict in the pairwise templates' answer
  format (``<answer>[[A]]</answer>``), read by ``reward_fns.parse.parse_verdict``, the parser
  the RL reward uses.

Each output row's ``messages`` (what veRL's ``MultiTurnSFTDataset`` reads) is the prompt as the
RL data renders it for the chosen template (same ``render``, in the teacher's A/B order), then
the trace as the assistant turn: SFT teaches the format RL then rewards.

RM-R1's filter: a trace whose verdict disagrees with ``chosen_position`` is dropped and
counted. A trace with no parseable verdict is an error naming its file and row: the teacher's
output is malformed, and dropping it silently would hide a broken generation run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from reward_fns.parse import parse_verdict
from rmsweep.data._layouts import SAMPLE_ROWS, describe, detect
from rmsweep.data._pairs import to_pair
from rmsweep.data._records import BadRows, PairItem, check_row, file_of, has_field, text_field
from rmsweep.data._writer import write_table
from rmsweep.errors import DataError
from rmsweep.templates import render

TRACE_FIELD = "trace"
POSITION_FIELD = "chosen_position"
POSITIONS = ("A", "B")
DROPPED_WHY = "verdict disagrees with the label"


@dataclass(frozen=True)
class TraceItem(PairItem):
    """A pair as the teacher saw it (chosen at ``chosen_position``) and the teacher's trace."""

    _: KW_ONLY
    trace: str
    chosen_position: str


@dataclass(frozen=True)
class LoadedTraces:
    """The traces kept, how many good traces were read, and the pair layout (for a report)."""

    kept: list[TraceItem]
    n_read: int
    layout: str

    @property
    def n_dropped(self) -> int:
        return self.n_read - len(self.kept)


def load(rows: Iterable[tuple[str, Any]], bad: BadRows) -> LoadedTraces:
    """Read trace rows, keep those whose verdict matches ``chosen_position`` (RM-R1's filter).

    Rows that are not readable pairs or lack ``trace``/``chosen_position`` go to ``bad``.

    Raises:
        DataError: A trace with no verdict ``parse_verdict`` can read (names the file and row),
            or a file whose first rows fit no pair layout.
    """
    kept: list[TraceItem] = []
    n_read = 0
    layouts: dict[str, str] = {}
    for file, group in groupby(rows, key=lambda r: file_of(r[0])):
        file_rows = list(group)  # trace files are small: thousands of rows
        sample = [row for _, row in file_rows if isinstance(row, Mapping)][:SAMPLE_ROWS]
        layout = detect(sample, bad.where(file)) if sample else None
        if layout is not None:
            layouts[file] = layout
        for origin, row in file_rows:
            if (read := _to_trace(origin, row, bad, layout)) is None:
                continue
            item, verdict = read
            n_read += 1
            if verdict == item.chosen_position:
                kept.append(item)
    return LoadedTraces(kept=kept, n_read=n_read, layout=describe(layouts))


def _to_trace(
    origin: str, row: Any, bad: BadRows, layout: str | None
) -> tuple[TraceItem, str] | None:
    """The row as a TraceItem with its trace's verdict, or None after reporting a bad row."""
    if not check_row(origin, row, bad):
        return None
    if (pair := to_pair(origin, row, bad, False, layout)) is None:
        return None
    if not has_field(row, POSITION_FIELD):
        bad.add(origin, POSITION_FIELD, "missing ('A' or 'B': where the teacher saw chosen)")
        return None
    if (position := row[POSITION_FIELD]) not in POSITIONS:
        bad.add(origin, POSITION_FIELD, f"{position!r} is not 'A' or 'B'")
        return None
    if (trace := text_field(row, TRACE_FIELD, origin, bad)) is None:
        return None
    if (verdict := parse_verdict(trace)) is None:
        raise DataError(
            f"{bad.where(origin)}: field {TRACE_FIELD!r}: no verdict the reward parser can read "
            "(want <answer>[[A]]</answer> or <answer>[[B]]</answer> after any </think>)"
        )
    return TraceItem(**vars(pair), trace=trace, chosen_position=position), verdict


def kept_traces_line(n_read: int, n_dropped: int) -> str:
    """The prepare report's line: ``kept 27 of 30 traces (3 dropped: verdict disagrees …)``."""
    return f"kept {n_read - n_dropped} of {n_read} traces ({n_dropped} dropped: {DROPPED_WHY})"


def to_sft_rows(
    items: Sequence[TraceItem],
    *,
    split: str,
    data_source: str,
    template: Mapping[str, Any],
    native_thinking: bool = False,
) -> list[dict[str, Any]]:
    """veRL SFT rows for one split: the RL prompt (teacher's A/B order), then the trace."""
    rows = []
    for i, item in enumerate(items):
        first, second = (item.chosen, item.rejected)
        if item.chosen_position == "B":
            first, second = second, first
        record = {"prompt": item.prompt, "response_a": first, "response_b": second}
        prompt = render(template, record, native_thinking=native_thinking)
        rows.append(
            {
                "data_source": data_source,
                "messages": [*prompt, {"role": "assistant", "content": item.trace}],
                # The RL columns too: the tiny model is built from them (tokenizer, warm-start).
                "prompt": prompt,
                "reward_model": {"style": "rule", "ground_truth": item.chosen_position},
                "extra_info": {
                    "index": i,
                    "split": split,
                    "origin": item.origin,
                    "source_prompt": item.prompt,
                    "chosen_position": item.chosen_position,
                },
            }
        )
    return rows


def _schema() -> Any:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    extra = pa.struct(
        [
            ("index", pa.int64()),
            ("split", pa.string()),
            ("origin", pa.string()),
            ("source_prompt", pa.string()),
            ("chosen_position", pa.string()),
        ]
    )
    reward_model = pa.struct([("style", pa.string()), ("ground_truth", pa.string())])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("messages", pa.list_(message)),
            ("prompt", pa.list_(message)),
            ("reward_model", reward_model),
            ("extra_info", extra),
        ]
    )


def write_sft_parquet(rows: list[dict[str, Any]], path: Path) -> str:
    """Write SFT rows atomically with a ``<file>.sha256`` beside it (as ``write_parquet``).

    Returns:
        sha256 hex of the parquet file's bytes.
    """
    import pyarrow as pa

    return write_table(pa.Table.from_pylist(rows, schema=_schema()), path)
