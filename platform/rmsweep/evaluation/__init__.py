"""Benchmark evaluation of reward models: RewardBench, RM-Bench and RMB.

A judge (a trained model with its template, or a model-free baseline) turns comparisons into
scores or verdicts; each benchmark's own rules turn those into its numbers. The rules are pure:
loaders turn the published files into ``Comparison`` records, the judging
rules turn a judge's scores (pointwise) or verdicts (pairwise, both orders) into ``Outcome``
records, and each benchmark's ``score`` computes its published metrics from them.

Example:
    >>> from rmsweep.evaluation import BASELINES, BENCHMARKS, judge_pointwise, load_benchmark
    >>> comparisons = load_benchmark("rmbench", Path("RM-Bench/data/chat_filtered.json"))
    >>> outcomes = judge_pointwise(comparisons, BASELINES["length"])
    >>> BENCHMARKS["rmbench"].score(comparisons, outcomes)["rmbench.hard"]
"""

from __future__ import annotations

from rmsweep.evaluation._baselines import BASELINES, length_scores, random_scores
from rmsweep.evaluation._benchmarks import BENCHMARKS, Benchmark, load_benchmark
from rmsweep.evaluation._evaluate import BenchResult, EvalReport, evaluate
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._judging import judge_pairwise, judge_pointwise
from rmsweep.evaluation._rates import judgment_rows, rates
from rmsweep.evaluation._report import log_report, metric_name, summary_line, tables, to_json
from rmsweep.evaluation._run import evaluate_model, parse_benches
from rmsweep.evaluation._settings import EvalSettings, ModelSpec

__all__ = [
    "BASELINES",
    "BENCHMARKS",
    "BenchResult",
    "Benchmark",
    "Comparison",
    "EvalReport",
    "EvalSettings",
    "ModelSpec",
    "Outcome",
    "evaluate",
    "evaluate_model",
    "log_report",
    "metric_name",
    "parse_benches",
    "summary_line",
    "tables",
    "to_json",
    "judge_pairwise",
    "judge_pointwise",
    "judgment_rows",
    "length_scores",
    "load_benchmark",
    "random_scores",
    "rates",
]
