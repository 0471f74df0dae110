"""RM-Bench (THU-KEG/RM-Bench, ``data/``): loading and its easy/normal/hard scores.

Rows: ``id``, ``prompt``, ``chosen`` and ``rejected`` (3 responses each: concise, detailed,
detailed+markdown) and ``domain`` (``total_dataset.json``); the per-domain files
(``chat_filtered.json`` ...) carry no domain, so it is the file name without ``_filtered``.
Each row gives 9 comparisons, chosen style i vs rejected style j. Scores follow RM-Bench's
``compute_accuracy`` (scripts/utils.py): per domain a 3x3 accuracy matrix (row = chosen style),
hard = mean of the upper-right triangle (chosen plainer than rejected), normal = the diagonal,
easy = the lower-left triangle, avg = mean of the three. ``safety-refuse`` and
``safety-response`` are scored together as ``safety`` (its ``split_dataset_by_domain``).
Overall easy/normal/hard/avg are plain means over the domains (README "Clarity on Avg").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rmsweep.errors import DataError
from rmsweep.evaluation._files import Row, check_limit, check_unique, data_files, read_rows
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._rates import check_lengths, mean, prefixed, rates

BENCH = "rmbench"
STYLES = ("concise", "detailed", "detailed+markdown")
CELLS = [(i, j) for i in range(3) for j in range(3)]
LEVELS = {
    "easy": [(i, j) for i, j in CELLS if i > j],
    "normal": [(i, j) for i, j in CELLS if i == j],
    "hard": [(i, j) for i, j in CELLS if i < j],
}


def load(path: Path, limit: int | None = None) -> list[Comparison]:
    """Nine comparisons per row; ``limit`` keeps the first rows (files in name order)."""
    check_limit(limit)
    files = data_files(path)
    if len(files) > 1 and any(f.stem == "total_dataset" for f in files):
        raise DataError(
            f"{path}: holds total_dataset.json and other files (the same rows twice): pass one"
        )
    base = path if path.is_dir() else path.parent
    comparisons: list[Comparison] = []
    seen: dict[str, str] = {}
    rows = 0
    for file in files:
        for row in read_rows(file, file.relative_to(base).as_posix()):
            comparisons.extend(_comparisons(row, file.stem.removesuffix("_filtered"), seen))
            rows += 1
            if limit is not None and rows >= limit:
                return comparisons
    return comparisons


def _comparisons(row: Row, file_domain: str, seen: dict[str, str]) -> list[Comparison]:
    row_id = row.ident("id")
    prompt = row.text("prompt")
    chosen, rejected = _styles(row, "chosen"), _styles(row, "rejected")
    domain = row.text("domain") if row.data.get("domain") is not None else file_domain
    if not domain.strip():
        raise row.fail("domain", "empty domain")
    item_id = f"{domain}:{row_id}"  # ids repeat across domains (chat and code share some)
    check_unique(row, "id", item_id, seen)
    return [
        Comparison(BENCH, item_id, prompt, chosen[i], rejected[j], domain, (i, j), row.source)
        for i, j in CELLS
    ]


def _styles(row: Row, key: str) -> list[str]:
    value = row.get(key)
    if not isinstance(value, list) or len(value) != len(STYLES):
        got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
        raise row.fail(key, f"expected a list of 3 responses ({', '.join(STYLES)}), got {got}")
    return [row.expect_text(f"{key}[{k}]", text) for k, text in enumerate(value)]


def score(comparisons: Sequence[Comparison], outcomes: Sequence[Outcome]) -> dict[str, float]:
    """``rmbench.<domain>.{easy,normal,hard,avg,n}``, ``rmbench.{easy,normal,hard,avg}``, rates."""
    check_lengths(comparisons, outcomes)
    cells: dict[str, dict[tuple[int, int], list[float]]] = defaultdict(lambda: defaultdict(list))
    for c, o in zip(comparisons, outcomes, strict=True):
        if c.cell is None:
            raise ValueError(f"rmbench comparison {c.item_id} has no style cell")
        cells[scored_domain(c.group)][c.cell].append(o.correct)
    out: dict[str, float] = {}
    per_domain = {domain: _levels(domain, cells[domain]) for domain in sorted(cells)}
    for domain, levels in per_domain.items():
        out.update(prefixed(f"{BENCH}.{domain}", levels))
        out[f"{BENCH}.{domain}.n"] = float(sum(len(v) for v in cells[domain].values()))
    if per_domain:
        for key in (*LEVELS, "avg"):
            out[f"{BENCH}.{key}"] = mean([levels[key] for levels in per_domain.values()])
    out.update(prefixed(BENCH, rates(outcomes)))
    return out


def scored_domain(domain: str) -> str:
    """The domain RM-Bench reports: ``safety-refuse`` and ``safety-response`` are ``safety``."""
    return domain.split("-", 1)[0]


def _levels(domain: str, cells: dict[tuple[int, int], list[float]]) -> dict[str, float]:
    missing = [cell for cell in CELLS if cell not in cells]
    if missing:
        raise ValueError(f"rmbench domain {domain!r} lacks style cells {missing}")
    matrix = {cell: mean(values) for cell, values in cells.items()}
    levels = {name: mean([matrix[cell] for cell in members]) for name, members in LEVELS.items()}
    levels["avg"] = mean(list(levels.values()))
    return levels
