"""The shipped synthetic benchmark (evalsets/synthetic-rmbench): generated, and length-biased."""

from __future__ import annotations

import json
from pathlib import Path

from rmsweep.data import rmbench_rows
from rmsweep.evaluation import BENCHMARKS, judge_pointwise, length_scores, load_benchmark

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_synthetic_benchmark_is_the_generator_output() -> None:
    shipped = REPO / "evalsets" / "synthetic-rmbench" / "synthetic_filtered.json"
    assert json.loads(shipped.read_text()) == rmbench_rows(60, 0)


def test_the_synthetic_benchmark_punishes_a_length_bias_like_rm_bench() -> None:
    comparisons = load_benchmark("rmbench", REPO / "evalsets" / "synthetic-rmbench")
    scores = BENCHMARKS["rmbench"].score(comparisons, judge_pointwise(comparisons, length_scores))
    assert scores["rmbench.synthetic.easy"] > 0.9 and scores["rmbench.synthetic.hard"] < 0.1
