"""Items -> veRL parquet rows; atomic writes with a sha256 beside each file; reading rows back.

veRL's schema (what ``RLHFDataset`` and its reward managers read): ``data_source`` (str),
``prompt`` (chat messages), ``ability`` (str), ``reward_model`` ({style: "rule",
ground_truth: "3" | "A" | "B"}) and ``extra_info`` (index, split and provenance).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rmsweep.data._records import PairItem, PointItem
from rmsweep.data._split import positions
from rmsweep.templates import render

_COMMON_EXTRA = ("index", "split", "synthetic", "source_index", "origin", "source_prompt")


def _schema(task: str) -> Any:
    import pyarrow as pa

    specific = (
        [("raw_score", pa.float64()), ("attribute", pa.string())]
        if task == "pointwise"
        else [
            ("chosen_position", pa.string()),
            ("score_chosen", pa.float64()),
            ("score_rejected", pa.float64()),
        ]
    )
    extra = pa.struct(
        [
            ("index", pa.int64()),
            ("split", pa.string()),
            ("synthetic", pa.bool_()),
            ("source_index", pa.int64()),
            ("origin", pa.string()),
            ("source_prompt", pa.string()),
            *specific,
        ]
    )
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra),
        ]
    )


def ability(task: str, synthetic: bool) -> str:
    """The ``ability`` column: ``rm_pointwise`` / ``rm_pairwise``, prefixed ``synthetic_``."""
    return f"{'synthetic_' if synthetic else ''}rm_{task}"


def to_rows(
    items: Sequence[PointItem] | Sequence[PairItem],
    *,
    split: str,
    data_source: str,
    template: Mapping[str, Any],
    seed: int,
    attribute: str | None = None,
    native_thinking: bool = False,
) -> list[dict[str, Any]]:
    """veRL rows for one split (pairs get balanced, seeded A/B positions)."""
    slots = positions(len(items), seed, split) if items and isinstance(items[0], PairItem) else []
    entries: Sequence[PointItem | PairItem] = items  # one kind or the other, seen one by one
    rows = []
    for i, item in enumerate(entries):
        extra: dict[str, Any] = {
            "index": i,
            "split": split,
            "synthetic": item.synthetic,
            "source_index": item.source_index,
            "origin": item.origin,
            "source_prompt": item.prompt,
        }
        if isinstance(item, PointItem):
            record = {"prompt": item.prompt, "response": item.response}
            truth = str(item.score)
            extra.update(raw_score=item.raw_score, attribute=attribute)
        else:
            truth = slots[i]
            a, b = (item.chosen, item.rejected) if truth == "A" else (item.rejected, item.chosen)
            record = {"prompt": item.prompt, "response_a": a, "response_b": b}
            extra.update(
                chosen_position=truth,
                score_chosen=item.score_chosen,
                score_rejected=item.score_rejected,
            )
        rows.append(
            {
                "data_source": data_source,
                "prompt": render(template, record, native_thinking=native_thinking),
                "ability": ability(
                    "pointwise" if isinstance(item, PointItem) else "pairwise", item.synthetic
                ),
                "reward_model": {"style": "rule", "ground_truth": truth},
                "extra_info": extra,
            }
        )
    return rows


def write_parquet(rows: list[dict[str, Any]], task: str, path: Path) -> str:
    """Write rows atomically (temp file + rename) and a ``<file>.sha256`` beside it.

    Returns:
        sha256 hex of the parquet file's bytes.
    """
    import pyarrow as pa

    return write_table(pa.Table.from_pylist(rows, schema=_schema(task)), path)


def write_table(table: Any, path: Path) -> str:
    """Write a pyarrow table as ``write_parquet`` does; returns the file's sha256."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        digest = file_digest(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    return digest


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def file_digest(path: Path) -> str:
    """sha256 hex of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_rows(path: Path, n: int | None = None) -> list[dict[str, Any]]:
    """The first ``n`` rows (all if None) of a prepared parquet as plain dicts."""
    import pyarrow.parquet as pq

    from rmsweep.errors import DataError

    if not Path(path).is_file():
        raise DataError(f"no such parquet file: {path}")
    try:
        table = pq.read_table(path)
    except Exception as err:
        raise DataError(f"{path}: cannot read as parquet ({err})") from err
    return (table.slice(0, n) if n is not None else table).to_pylist()
