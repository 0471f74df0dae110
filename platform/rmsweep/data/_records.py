"""Normalised items, bad-row bookkeeping and reading raw rows with origins.

Local inputs: ``.jsonl`` (JSON lines), ``.json`` (one JSON array of rows, or JSON lines),
``.parquet``, and a folder written by ``datasets``' ``save_to_disk`` (a DatasetDict gives its
``train`` split); or a hub data set name.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmsweep.errors import DataError

log = logging.getLogger(__name__)

_MISSING = object()
FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
SAVED_DICT = "dataset_dict.json"  # save_to_disk markers: a DatasetDict, or a Dataset's two files
SAVED_DATASET = ("state.json", "dataset_info.json")


@dataclass(frozen=True)
class PointItem:
    """One (prompt, response) with an integer score on the 0–4 scale."""

    prompt: str
    response: str
    score: int
    raw_score: float
    origin: str  # "train.jsonl:12" (relative to the source), "name[split]:row", "synthetic:…"
    source_index: int | None = None
    synthetic: bool = False


@dataclass(frozen=True)
class PairItem:
    """One prompt with a preferred (chosen) and a dispreferred (rejected) response."""

    prompt: str
    chosen: str
    rejected: str
    origin: str
    score_chosen: float | None = None
    score_rejected: float | None = None
    source_index: int | None = None
    synthetic: bool = False


@dataclass
class BadRows:
    """Collects rejected rows; in strict mode the first one raises DataError instead."""

    strict: bool
    base: Path | None = None  # origins are relative to it; messages show the full path
    messages: list[str] = field(default_factory=list)

    def where(self, origin: str) -> str:
        """``origin`` (or a file's name) with the full path, as messages show it."""
        return f"{self.base}/{origin}" if self.base is not None else origin

    def add(self, origin: str, field_name: str, problem: str) -> None:
        message = f"{self.where(origin)}: field {field_name!r}: {problem}"
        if self.strict:
            raise DataError(f"bad row at {message} (drop --strict to skip and count bad rows)")
        log.info("skipping bad row at %s", message)
        self.messages.append(message)


def get_field(row: Mapping[str, Any], dotted: str) -> Any:
    """``row["a"]["b"]`` for ``"a.b"``; a private sentinel where any part is absent."""
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def has_field(row: Mapping[str, Any], dotted: str) -> bool:
    """True where ``dotted`` is present and not null."""
    value = get_field(row, dotted)
    return value is not _MISSING and value is not None


def text_problem(value: Any) -> str | None:
    """Why ``value`` is not a non-empty string (None when it is one)."""
    if value is _MISSING or value is None:
        return "missing"
    if not isinstance(value, str):
        return "not a string"
    return None if value.strip() else "empty text"


def text_field(row: Mapping[str, Any], name: str, origin: str, bad: BadRows) -> str | None:
    """A non-empty string field, or None after reporting the row."""
    value = get_field(row, name)
    if (problem := text_problem(value)) is not None:
        bad.add(origin, name, problem)
        return None
    return value


def number_field(
    row: Mapping[str, Any], name: str, origin: str, bad: BadRows, lo: float, hi: float
) -> float | None:
    """A number within ``[lo, hi]``, or None after reporting the row."""
    value = get_field(row, name)
    if value is _MISSING or value is None:
        bad.add(origin, name, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        bad.add(origin, name, f"not a number: {value!r}")
        return None
    if not lo <= value <= hi or value != value:  # NaN fails both
        bad.add(origin, name, f"score {value!r} outside the scale {lo:g}-{hi:g}")
        return None
    return float(value)


def optional_int(row: Mapping[str, Any], name: str) -> int | None:
    value = get_field(row, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Source:
    """Where rows come from: local files (sorted) or a hub data set name."""

    files: tuple[Path, ...] = ()
    hub_name: str | None = None
    base: Path | None = None  # the folder the files' origins are relative to

    def fingerprint(self) -> str:
        """sha256 over the inputs' bytes (files) or the hub splits' fingerprints."""
        h = hashlib.sha256()
        if self.hub_name is not None:
            h.update(f"hub:{self.hub_name}".encode())
            for split, ds in sorted(_load_hub(self.hub_name).items()):
                h.update(f"{split}:{getattr(ds, '_fingerprint', len(ds))}".encode())
            return h.hexdigest()
        for path in self.files:
            h.update(path.name.encode() + b"\0")
            inner = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in inner:
                if file != path:
                    h.update(file.relative_to(path).as_posix().encode() + b"\0")
                with file.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
        return h.hexdigest()


def resolve_source(path: str | None, root: Path) -> Source:
    """A local file or folder (relative paths against ``root``), else a hub data set name.

    Raises:
        DataError: Nothing local matches and the name cannot be a hub data set.
    """
    if not path:
        raise DataError("data.path is required for this source (a local file/folder or hub name)")
    local = Path(path).expanduser()
    local = (local if local.is_absolute() else root / local).resolve()
    if local.is_file() or is_saved_dataset(local):
        return Source(files=(local,), base=local.parent)
    if local.is_dir():
        files = tuple(sorted(p for p in local.iterdir() if p.suffix in FILE_SUFFIXES))
        if not files:
            raise DataError(f"{local}: no {'/'.join(FILE_SUFFIXES)} files in this folder")
        return Source(files=files, base=local)
    looks_local = path.startswith((".", "/", "~")) or path.endswith(FILE_SUFFIXES)
    if looks_local or path.count("/") != 1:
        raise DataError(f"data file not found: {path!r} (looked at {local})")
    return Source(hub_name=path)


def is_saved_dataset(folder: Path) -> bool:
    """Whether ``folder`` was written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    return (folder / SAVED_DICT).is_file() or all((folder / n).is_file() for n in SAVED_DATASET)


def file_of(origin: str) -> str:
    """The file part of an origin: ``"train.jsonl"`` for ``"train.jsonl:12"``."""
    return origin.rpartition(":")[0]


def iter_rows(source: Source, max_rows: int | None) -> Iterator[tuple[str, Any]]:
    """Yield ``(origin, row)``, origin ``"<file name>:<line>"`` (JSON lines) or ``"<file
    name>:row <n>"`` (a JSON array, parquet, a save_to_disk folder: ``"<folder>[train]:row <n>"``
    for a DatasetDict), relative to ``source.base`` so the written data does not depend on where
    the checkout lives; a line that is not valid JSON comes back as a DataError value.

    Raises:
        DataError: A ``.json`` file that starts as a JSON array but is not one, or a
            save_to_disk folder that cannot be read or has no ``train`` split.
    """
    count = 0
    for origin, row in _all_rows(source):
        if max_rows is not None and count >= max_rows:
            return
        count += 1
        yield origin, row


def _all_rows(source: Source) -> Iterator[tuple[str, Any]]:
    if source.hub_name is not None:
        for split, ds in sorted(_load_hub(source.hub_name).items()):
            for i, row in enumerate(ds):
                yield f"{source.hub_name}[{split}]:{i + 1}", row
        return
    for path in source.files:
        if path.is_dir():
            yield from _saved_rows(path)
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            for i, row in enumerate(pq.read_table(path).to_pylist()):
                yield f"{path.name}:row {i + 1}", row
        elif path.suffix == ".json" and (array := _json_array(path)) is not None:
            for i, row in enumerate(array):
                yield f"{path.name}:row {i + 1}", row
        else:
            yield from _json_lines(path)


def _json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"{path.name}:{lineno}", json.loads(line)
            except json.JSONDecodeError as err:
                yield f"{path.name}:{lineno}", DataError(f"not valid JSON ({err.msg})")


def _json_array(path: Path) -> list[Any] | None:
    """The rows of a file holding one JSON array; None for JSON lines."""
    with path.open(encoding="utf-8") as fh:
        if not fh.read(1 << 16).lstrip().startswith("["):
            return None
        fh.seek(0)
        text = fh.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        first = next(line for line in text.split("\n") if line.strip())
        try:
            json.loads(first)
            return None  # JSON lines whose first row happens to be an array
        except json.JSONDecodeError:
            pass
        where = f"line {err.lineno} column {err.colno}"
        raise DataError(f"{path}: not a valid JSON array ({err.msg} at {where})") from None
    return value if isinstance(value, list) else None


def _saved_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import datasets

    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as err:  # a damaged or partial folder: one message
        raise DataError(f"{path}: cannot read this save_to_disk folder: {err}") from err
    label = path.name
    if isinstance(saved, datasets.DatasetDict):
        if "train" not in saved:
            splits = ", ".join(sorted(saved)) or "none"
            raise DataError(
                f"{path}: a DatasetDict without a 'train' split (splits: {splits}); "
                f"point data.path at one split's folder, {path}/<split>"
            )
        saved, label = saved["train"], f"{path.name}[train]"
    for i, row in enumerate(saved):
        yield f"{label}:row {i + 1}", row


def _load_hub(name: str) -> Mapping[str, Any]:
    try:
        import datasets

        return datasets.load_dataset(name)
    except Exception as err:  # network, unknown name, schema: all one message
        raise DataError(f"cannot load hub data set {name!r}: {type(err).__name__}: {err}") from err


def check_row(origin: str, row: Any, bad: BadRows) -> bool:
    """False (after reporting) for rows that are not JSON objects."""
    if isinstance(row, DataError):
        bad.add(origin, "<line>", str(row))
        return False
    if not isinstance(row, Mapping):
        bad.add(origin, "<line>", f"expected a JSON object, got {type(row).__name__}")
        return False
    return True
