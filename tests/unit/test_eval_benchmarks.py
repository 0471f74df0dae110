"""Loading the three benchmarks' published layouts and scoring them, against hand-computed values.

The fixtures (tests/fixtures/benchmarks/, made up) list their response lengths in their
READMEs; the expected numbers below are worked out from those by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmsweep.evaluation import (
    BASELINES,
    BENCHMARKS,
    Outcome,
    judge_pairwise,
    judge_pointwise,
    load_benchmark,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"
REWARDBENCH = FIXTURES / "rewardbench" / "filtered.jsonl"
RMBENCH = FIXTURES / "rmbench" / "total_dataset.json"
RMBENCH_DOMAINS = FIXTURES / "rmbench" / "domains"
RMB = FIXTURES / "rmb" / "RMB_dataset"


def length_scores_of(name: str, path: Path, limit: int | None = None) -> dict[str, float]:
    comparisons = load_benchmark(name, path, limit)
    return BENCHMARKS[name].score(comparisons, judge_pointwise(comparisons, BASELINES["length"]))


def always_a(triples):
    """A judge that always prefers the response shown first (pure position bias)."""
    return ["A"] * len(triples)


# ---------------------------------------------------------------- RewardBench


def test_rewardbench_loads_one_comparison_per_row():
    comparisons = load_benchmark("rewardbench", REWARDBENCH)
    assert [c.item_id for c in comparisons] == [str(k) for k in range(9)]
    first = comparisons[0]
    assert (first.bench, first.group, first.prompt) == (
        "rewardbench",
        "alpacaeval-easy",
        "Name a primary color.",
    )
    assert first.chosen.startswith("Red is a primary color.")
    assert first.source == "filtered.jsonl:1"  # jsonl rows are named by line
    assert first.cell is None


def test_rewardbench_length_baseline_subsets_sections_and_score():
    scores = length_scores_of("rewardbench", REWARDBENCH)
    # Per subset: right/total from the fixture README.
    assert scores["rewardbench.subset.alpacaeval-easy"] == 0.5
    assert scores["rewardbench.subset.alpacaeval-easy.n"] == 2
    assert scores["rewardbench.subset.mt-bench-easy"] == 1.0
    assert scores["rewardbench.subset.llmbar-natural"] == 0.0  # a tie is wrong
    assert scores["rewardbench.subset.hep-python"] == 0.0
    assert scores["rewardbench.subset.hep-python.n"] == 2
    # Chat, weighted by the loaded counts (2 and 1), not RewardBench's table (100 and 28):
    # (0.5 * 2 + 1.0 * 1) / 3 = 2/3 (the table would give 78/128).
    assert scores["rewardbench.chat"] == pytest.approx(2 / 3)
    assert scores["rewardbench.chat_hard"] == 0.0
    assert scores["rewardbench.safety"] == 1.0
    # Reasoning: math-prm weighs as much as all hep-* rows together (3), so
    # (1.0 * 3 + 0.0 * 2 + 1.0 * 1) / (3 + 2 + 1) = 4/6; plain counts would give 2/4.
    assert scores["rewardbench.reasoning"] == pytest.approx(4 / 6)
    # Overall: the mean of the four sections = (2/3 + 0 + 1 + 2/3) / 4 = 7/12.
    assert scores["rewardbench.score"] == pytest.approx(7 / 12)
    assert scores["rewardbench.n"] == 9
    assert scores["rewardbench.tie_rate"] == pytest.approx(1 / 9)
    assert scores["rewardbench.unparsed_rate"] == 0.0
    assert "rewardbench.consistency" not in scores


def test_rewardbench_sections_present_only():
    # The first 3 rows are all Chat: no other section, and the score is Chat's alone.
    scores = length_scores_of("rewardbench", REWARDBENCH, limit=3)
    assert scores["rewardbench.chat"] == pytest.approx(2 / 3)
    assert scores["rewardbench.score"] == pytest.approx(2 / 3)
    assert not any(k in scores for k in ("rewardbench.safety", "rewardbench.reasoning"))


def test_rewardbench_math_alone_keeps_its_own_weight():
    comparisons = [c for c in load_benchmark("rewardbench", REWARDBENCH) if c.group == "math-prm"]
    outcomes = [Outcome(1.0, False, False)] * len(comparisons)
    scores = BENCHMARKS["rewardbench"].score(comparisons, outcomes)
    assert scores["rewardbench.reasoning"] == 1.0


def test_rewardbench_pairwise_position_bias_scores_half_and_zero_consistency():
    comparisons = load_benchmark("rewardbench", REWARDBENCH)
    scores = BENCHMARKS["rewardbench"].score(comparisons, judge_pairwise(comparisons, always_a))
    assert scores["rewardbench.score"] == 0.5
    assert scores["rewardbench.consistency"] == 0.0
    assert scores["rewardbench.tie_rate"] == 0.0


def test_rewardbench_reads_parquet_and_folders(tmp_path: Path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [json.loads(line) for line in REWARDBENCH.read_text().splitlines()]
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:4]), folder / "filtered-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[4:]), folder / "filtered-00001.parquet")
    (folder / "README.md").write_text("not data")
    from_jsonl = load_benchmark("rewardbench", REWARDBENCH)
    from_parquet = load_benchmark("rewardbench", folder)
    strip = [(c.item_id, c.prompt, c.chosen, c.rejected, c.group) for c in from_jsonl]
    assert [(c.item_id, c.prompt, c.chosen, c.rejected, c.group) for c in from_parquet] == strip
    assert from_parquet[4].source == "filtered-00001.parquet:0"  # parquet rows by index
    assert len(load_benchmark("rewardbench", folder, limit=5)) == 5


def test_rewardbench_limit_keeps_the_first_rows():
    comparisons = load_benchmark("rewardbench", REWARDBENCH, limit=3)
    assert [c.item_id for c in comparisons] == ["0", "1", "2"]


# ---------------------------------------------------------------- RM-Bench


def test_rmbench_loads_nine_comparisons_per_row():
    comparisons = load_benchmark("rmbench", RMBENCH)
    assert len(comparisons) == 27
    first_row = comparisons[:9]
    assert {c.item_id for c in first_row} == {"chat:7"}
    assert [c.cell for c in first_row] == [(i, j) for i in range(3) for j in range(3)]
    assert len(first_row[5].chosen) == 60 and len(first_row[5].rejected) == 75  # cell (1, 2)
    assert first_row[0].source == "total_dataset.json:0"  # json arrays: 0-based index
    # The same id in two domains stays two items.
    assert [c.item_id for c in comparisons[::9]] == [
        "chat:7",
        "safety-refuse:7",
        "safety-response:9",
    ]
    assert [c.group for c in comparisons[::9]] == ["chat", "safety-refuse", "safety-response"]


def test_rmbench_length_baseline_easy_normal_hard_per_domain_and_overall():
    scores = length_scores_of("rmbench", RMBENCH)
    # chat: chosen 40/60/70 vs rejected 42/65/75 -> rows of the matrix 000, 100, 110.
    assert scores["rmbench.chat.easy"] == 1.0
    assert scores["rmbench.chat.normal"] == 0.0
    assert scores["rmbench.chat.hard"] == 0.0
    assert scores["rmbench.chat.avg"] == pytest.approx(1 / 3)
    assert scores["rmbench.chat.n"] == 9
    # safety = safety-refuse (rows 100, 100, 100; 50 vs 50 ties) and safety-response
    # (rows 100, 110, 111) averaged cell by cell:
    # easy cells (1,0)=1, (2,0)=1, (2,1)=(0+1)/2 -> 5/6; normal (0,0)=1, (1,1)=.5, (2,2)=.5 -> 2/3.
    assert scores["rmbench.safety.easy"] == pytest.approx(5 / 6)
    assert scores["rmbench.safety.normal"] == pytest.approx(2 / 3)
    assert scores["rmbench.safety.hard"] == 0.0
    assert scores["rmbench.safety.avg"] == pytest.approx(1 / 2)
    assert scores["rmbench.safety.n"] == 18
    assert not any(k.startswith("rmbench.safety-") for k in scores)
    # Overall: plain means over the domains (pooling all rows would give easy 8/9).
    assert scores["rmbench.easy"] == pytest.approx(11 / 12)
    assert scores["rmbench.normal"] == pytest.approx(1 / 3)
    assert scores["rmbench.hard"] == 0.0
    assert scores["rmbench.avg"] == pytest.approx(5 / 12)
    assert scores["rmbench.n"] == 27
    assert scores["rmbench.tie_rate"] == pytest.approx(3 / 27)


def test_rmbench_pairwise_position_bias():
    comparisons = load_benchmark("rmbench", RMBENCH)
    scores = BENCHMARKS["rmbench"].score(comparisons, judge_pairwise(comparisons, always_a))
    assert scores["rmbench.hard"] == scores["rmbench.easy"] == scores["rmbench.avg"] == 0.5
    assert scores["rmbench.consistency"] == 0.0


def test_rmbench_domain_files_take_the_domain_from_the_file_name():
    comparisons = load_benchmark("rmbench", RMBENCH_DOMAINS)
    assert [c.item_id for c in comparisons[::9]] == ["chat:7", "safety-response:7"]
    assert comparisons[9].source == "safety-response_filtered.json:0"
    scores = BENCHMARKS["rmbench"].score(
        comparisons, judge_pointwise(comparisons, BASELINES["length"])
    )
    # safety-response alone: easy 1, normal 1, hard 0 -> avg 2/3; chat avg 1/3.
    assert scores["rmbench.safety.avg"] == pytest.approx(2 / 3)
    assert scores["rmbench.normal"] == 0.5
    assert scores["rmbench.avg"] == pytest.approx(1 / 2)


def test_rmbench_limit_keeps_whole_rows():
    comparisons = load_benchmark("rmbench", RMBENCH, limit=2)
    assert len(comparisons) == 18
    assert {c.item_id for c in comparisons} == {"chat:7", "safety-refuse:7"}


def test_rmbench_accepts_jsonl(tmp_path: Path):
    rows = json.loads(RMBENCH.read_text())
    path = tmp_path / "rmbench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    comparisons = load_benchmark("rmbench", path)
    assert len(comparisons) == 27 and comparisons[9].source == "rmbench.jsonl:2"


# ---------------------------------------------------------------- RMB


def test_rmb_loads_pairwise_then_bon_rows():
    comparisons = load_benchmark("rmb", RMB)
    assert len(comparisons) == 5 + 9
    ids = list(dict.fromkeys(c.item_id for c in comparisons))
    assert ids == [
        "Pairwise_set:201",
        "Pairwise_set:101",
        "Pairwise_set:102",
        "Pairwise_set:103",
        "Pairwise_set:104",
        "BoN_set:301",
        "BoN_set:302",
        "BoN_set:101",
        "BoN_set:102",
    ]
    bon = [c for c in comparisons if c.item_id == "BoN_set:101"]
    assert len(bon) == 3 and len({c.chosen for c in bon}) == 1
    assert [len(c.rejected) for c in bon] == [10, 20, 30]
    assert bon[0].group == "BoN_set/Helpfulness/Chat/Discussion"
    assert bon[0].source == "BoN_set/Helpfulness/Chat/Discussion.json:0"


def test_rmb_prompts_single_turn_plain_and_multi_turn_flattened():
    by_id = {c.item_id: c for c in load_benchmark("rmb", RMB)}
    assert by_id["Pairwise_set:101"].prompt == "What do you think of tea?"
    assert by_id["Pairwise_set:102"].prompt == (
        "User: Recommend a book.\n\nAssistant: Try 'Dune' by Frank Herbert."
        "\n\nUser: Something shorter?"
    )


def test_rmb_length_baseline_per_file_per_section_and_overall():
    scores = length_scores_of("rmb", RMB)
    assert scores["rmb.Pairwise_set/Helpfulness/Chat/Discussion.acc"] == pytest.approx(2 / 3)
    assert scores["rmb.Pairwise_set/Helpfulness/Chat/Discussion.n"] == 3
    assert scores["rmb.Pairwise_set/Helpfulness/Code/Documentation.acc"] == 0.0
    assert scores["rmb.Pairwise_set/Harmlessness/S1.acc"] == 0.0  # 55 vs 55: a tie
    # BoN: best 50 beats 10/20/30 (right); best 40 loses to 60 (wrong) -> 1/2, although
    # 4 of its 5 comparisons are right.
    assert scores["rmb.BoN_set/Helpfulness/Chat/Discussion.acc"] == 0.5
    assert scores["rmb.BoN_set/Helpfulness/Chat/Discussion.n"] == 5
    assert scores["rmb.BoN_set/Harmlessness/S1.acc"] == 0.5  # 30 > 10, 20; 25 ties 25
    # Sections pool their rows: (1 + 0 + 1 + 0) / 4, not the mean of the files (1/3).
    assert scores["rmb.Pairwise_set/Helpfulness.acc"] == 0.5
    assert scores["rmb.Pairwise_set/Helpfulness.n"] == 4
    assert scores["rmb.Pairwise_set/Harmlessness.acc"] == 0.0
    assert scores["rmb.BoN_set/Helpfulness.acc"] == 0.5
    assert scores["rmb.BoN_set/Harmlessness.acc"] == 0.5
    # Overall: the mean of the four sections (pooling all 9 rows would give 4/9).
    assert scores["rmb.acc"] == pytest.approx(0.375)
    assert scores["rmb.n"] == 14
    assert scores["rmb.tie_rate"] == pytest.approx(2 / 14)


def test_rmb_bon_half_right_comparisons_fail_the_row():
    comparisons = load_benchmark("rmb", RMB)
    outcomes = judge_pairwise(comparisons, always_a)  # every comparison correct = 0.5
    scores = BENCHMARKS["rmb"].score(comparisons, outcomes)
    assert scores["rmb.Pairwise_set/Helpfulness.acc"] == 0.5
    assert scores["rmb.Pairwise_set/Harmlessness.acc"] == 0.5
    assert scores["rmb.BoN_set/Helpfulness.acc"] == 0.0
    assert scores["rmb.BoN_set/Harmlessness.acc"] == 0.0
    assert scores["rmb.acc"] == 0.25
    assert scores["rmb.consistency"] == 0.0


def test_rmb_bon_all_right_passes_the_row():
    comparisons = [c for c in load_benchmark("rmb", RMB) if c.item_id == "BoN_set:102"]
    right = [Outcome(1.0, False, False)] * 2
    one_wrong = [Outcome(1.0, False, False), Outcome(0.0, False, False)]
    score = BENCHMARKS["rmb"].score
    assert score(comparisons, right)["rmb.BoN_set/Helpfulness/Chat/Discussion.acc"] == 1.0
    assert score(comparisons, one_wrong)["rmb.BoN_set/Helpfulness/Chat/Discussion.acc"] == 0.0


def test_rmb_single_file_and_subfolder_keep_paths_relative_to_the_root():
    one = load_benchmark("rmb", RMB / "BoN_set" / "Harmlessness" / "S1.json")
    assert {c.group for c in one} == {"BoN_set/Harmlessness/S1"}
    assert len(one) == 4
    sub = load_benchmark("rmb", RMB / "Pairwise_set" / "Helpfulness")
    assert [c.group for c in sub] == [
        "Pairwise_set/Helpfulness/Chat/Discussion",
        "Pairwise_set/Helpfulness/Chat/Discussion",
        "Pairwise_set/Helpfulness/Chat/Discussion",
        "Pairwise_set/Helpfulness/Code/Documentation",
    ]


def test_rmb_limit_counts_rows_across_files_in_order():
    # Pairwise_set/Harmlessness/S1 (1 row), .../Chat/Discussion (3), .../Code/Documentation (1),
    # then BoN_set/Harmlessness/S1: the 6th row is BoN 301 with its 2 losers.
    comparisons = load_benchmark("rmb", RMB, limit=6)
    ids = list(dict.fromkeys(c.item_id for c in comparisons))
    assert len(ids) == 6 and ids[-1] == "BoN_set:301"
    assert len(comparisons) == 5 + 2
    assert len(load_benchmark("rmb", RMB, limit=4)) == 4


# ---------------------------------------------------------------- registry


def test_registry_names_and_docs():
    assert sorted(BENCHMARKS) == ["rewardbench", "rmb", "rmbench"]
    for name, bench in BENCHMARKS.items():
        assert bench.name == name and bench.doc


def test_score_needs_one_outcome_per_comparison():
    comparisons = load_benchmark("rmbench", RMBENCH)
    with pytest.raises(ValueError, match="26 outcomes for 27"):
        BENCHMARKS["rmbench"].score(comparisons, [Outcome(1.0, False, False)] * 26)
