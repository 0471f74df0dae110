"""Judge a model on benchmark files: load every benchmark first, then judge, then score.

The model-free baselines (``length``, ``random``) are judged on the same comparisons and
reported beside every model: they make a benchmark's numbers readable (RM-Bench exists
because the longer answer wins "easy").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rmsweep.evaluation._baselines import BASELINES
from rmsweep.evaluation._benchmarks import BENCHMARKS, load_benchmark
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._judging import judge_pairwise, judge_pointwise
from rmsweep.evaluation._model_judge import judge_fns
from rmsweep.evaluation._settings import BASELINE_PREFIX, EvalSettings, ModelSpec


@dataclass
class BenchResult:
    """One benchmark: its comparisons, each judge's outcomes and scores (flat keys)."""

    name: str
    path: str
    digest: str
    comparisons: list[Comparison]
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # judge label -> outcomes
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # judge label -> scores


@dataclass
class EvalReport:
    """Every benchmark's result for one model (``model``) and the baselines."""

    model: str
    task: str
    benches: list[BenchResult]
    seconds: float = 0.0
    generated: int = 0
    truncated: int = 0

    def scores(self, judge: str | None = None) -> dict[str, float]:
        """Flat scores of one judge (default: the model) across benchmarks."""
        label = judge or self.model
        return {k: v for b in self.benches for k, v in b.scores.get(label, {}).items()}

    @property
    def baselines(self) -> list[str]:
        return [
            BASELINE_PREFIX + name for name in BASELINES if BASELINE_PREFIX + name != self.model
        ]


def evaluate(settings: EvalSettings, model: ModelSpec) -> EvalReport:
    """Load the benchmarks, judge them with ``model`` and the baselines, score each.

    Raises:
        DataError: a benchmark file or row is bad (before anything is judged).
        EvalError: the model cannot be loaded.
    """
    loaded = [
        BenchResult(
            name, str(path), path_digest(Path(path)), load_benchmark(name, path, settings.limit)
        )
        for name, path in sorted(settings.benches.items())
    ]
    started = time.perf_counter()
    judge, stats = judge_fns(model, settings)
    pointwise = model.baseline is not None or settings.task == "pointwise"
    report = EvalReport(
        model=model.label, task="pointwise" if pointwise else "pairwise", benches=loaded
    )
    for bench in loaded:
        rule = judge_pointwise if pointwise else judge_pairwise
        _add(bench, model.label, rule(bench.comparisons, judge))
        for name in BASELINES:
            label = BASELINE_PREFIX + name
            if label != model.label:
                _add(bench, label, judge_pointwise(bench.comparisons, BASELINES[name]))
    report.seconds = time.perf_counter() - started
    if stats is not None:
        report.generated, report.truncated = stats.prompts, stats.truncated
    return report


def _add(bench: BenchResult, label: str, outcomes: Sequence[Outcome]) -> None:
    bench.outcomes[label] = list(outcomes)
    bench.scores[label] = BENCHMARKS[bench.name].score(bench.comparisons, outcomes)


def path_digest(path: Path) -> str:
    """sha256 over a file, or over a folder's files (relative names and contents, sorted)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
