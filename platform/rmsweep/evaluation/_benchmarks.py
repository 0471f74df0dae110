"""The benchmark registry: a name -> how to load its files and how to score the outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rmsweep.errors import DataError
from rmsweep.evaluation import _rewardbench, _rmb, _rmbench
from rmsweep.evaluation._items import Comparison, Outcome


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's loader, scorer and a one-line description of the files it reads."""

    name: str
    load: Callable[[Path, int | None], list[Comparison]]
    score: Callable[[Sequence[Comparison], Sequence[Outcome]], dict[str, float]]
    doc: str


BENCHMARKS: dict[str, Benchmark] = {
    "rewardbench": Benchmark(
        "rewardbench",
        _rewardbench.load,
        _rewardbench.score,
        "RewardBench 'filtered' split: id/prompt/chosen/rejected/subset rows "
        "(jsonl, json or parquet, or a folder of them)",
    ),
    "rmbench": Benchmark(
        "rmbench",
        _rmbench.load,
        _rmbench.score,
        "RM-Bench data/: total_dataset.json or a *_filtered.json domain file "
        "(or a folder of domain files)",
    ),
    "rmb": Benchmark(
        "rmb",
        _rmb.load,
        _rmb.score,
        "RMB RMB_dataset/ root (Pairwise_set/, BoN_set/) or a folder or .json file under it",
    ),
}


def load_benchmark(name: str, path: Path | str, limit: int | None = None) -> list[Comparison]:
    """Load benchmark ``name`` from ``path``, keeping the first ``limit`` rows.

    Raises:
        DataError: An unknown name (the known ones are listed), a missing path or a bad row.
    """
    bench = BENCHMARKS.get(name)
    if bench is None:
        raise DataError(f"unknown benchmark {name!r} (known: {', '.join(sorted(BENCHMARKS))})")
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{name}: no such file or folder: {path}")
    return bench.load(path, limit)
