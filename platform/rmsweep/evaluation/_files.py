"""Reading benchmark rows (json arrays, jsonl, parquet) with where they came from, and field checks.

Every problem is one DataError line naming the file, the row (``line N`` for jsonl, ``row N``
0-based for json arrays and parquet) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmsweep.errors import DataError

SUFFIXES = (".json", ".jsonl", ".parquet")
_MISSING = object()


@dataclass(frozen=True)
class Row:
    """One benchmark row: its data, its file and its position."""

    data: Mapping[str, Any]
    path: Path  # shown in messages
    name: str  # the file relative to what was loaded, for ``source``
    kind: str  # "line" (jsonl) or "row" (json array, parquet)
    number: int

    @property
    def source(self) -> str:
        """``"file:row"`` for the judgments table."""
        return f"{self.name}:{self.number}"

    def fail(self, field: str, problem: str) -> DataError:
        """The one-line error for a bad field of this row."""
        return DataError(f"{self.path}: {self.kind} {self.number}: field {field!r}: {problem}")

    def get(self, key: str) -> Any:
        """The field's value; missing or null fields raise."""
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            raise self.fail(key, "missing")
        return value

    def text(self, key: str) -> str:
        """A string field (empty strings occur in the published data and are allowed)."""
        return self.expect_text(key, self.get(key))

    def expect_text(self, label: str, value: Any) -> str:
        """``value`` itself when it is a string, else an error naming ``label``."""
        if value is None:
            raise self.fail(label, "missing")
        if not isinstance(value, str):
            raise self.fail(label, f"expected a string, got {_kind(value)}")
        return value

    def ident(self, key: str) -> str:
        """An id field (a string or an integer), as a string."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(key, f"expected a string or integer id, got {_kind(value)}")
        if isinstance(value, str) and not value.strip():
            raise self.fail(key, "empty id")
        return str(value)


def data_files(path: Path) -> list[Path]:
    """``path`` itself, or the json/jsonl/parquet files directly in the folder, sorted by name."""
    if not path.exists():
        raise DataError(f"no such file or folder: {path}")
    if path.is_file():
        if path.suffix not in SUFFIXES:
            raise DataError(f"{path}: not a {'/'.join(SUFFIXES)} file")
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        raise DataError(f"{path}: no {'/'.join(SUFFIXES)} files in this folder")
    return files


def read_rows(path: Path, name: str) -> Iterator[Row]:
    """The rows of one file in order; raises on unreadable files, non-object rows, no rows."""
    count = 0
    for kind, number, data in _raw_rows(path):
        if not isinstance(data, Mapping):
            raise DataError(f"{path}: {kind} {number}: expected a JSON object, got {_kind(data)}")
        count += 1
        yield Row(data, path, name, kind, number)
    if count == 0:
        raise DataError(f"{path}: empty file (no rows)")


def check_limit(limit: int | None) -> None:
    """``limit`` is None (everything) or a positive number of benchmark rows."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"limit must be a positive number of rows, got {limit!r}")


def check_unique(row: Row, field: str, item_id: str, seen: dict[str, str]) -> None:
    """Record ``item_id``; a second row with the same one raises."""
    if item_id in seen:
        raise row.fail(field, f"duplicate id {item_id!r} (first at {seen[item_id]})")
    seen[item_id] = row.source


def _raw_rows(path: Path) -> Iterator[tuple[str, int, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several types for unreadable files
            raise DataError(f"{path}: cannot read as parquet ({_one_line(err)})") from err
        for i, row in enumerate(rows):
            yield "row", i, row
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read ({_one_line(err)})") from err
    if path.suffix == ".jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield "line", lineno, _parse(path, line, lineno)
        return
    if not text.strip():
        return
    rows = _parse(path, text, None)
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON array of rows, got {_kind(rows)}")
    for i, row in enumerate(rows):
        yield "row", i, row


def _parse(path: Path, text: str, lineno: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        line = lineno if lineno is not None else err.lineno
        raise DataError(f"{path}: line {line}: not valid JSON ({err.msg})") from err


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
