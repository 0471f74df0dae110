"""RewardBench (allenai/reward-bench, the ``filtered`` split): loading and its scores.

Rows: ``id``, ``prompt``, ``chosen``, ``rejected``, ``subset`` (jsonl, json array or parquet, or
a folder of such files). Scores follow RewardBench's ``calculate_scores_per_section``
(rewardbench/utils.py): a section is the mean of its subsets' accuracies weighted by example
counts, here the counts in the loaded data. In Reasoning, ``math-prm`` is weighted like all the
``hep-*`` code subsets together ("math equalized to code": EXAMPLE_COUNTS gives math-prm 984 =
6 x 164 although it has 447 rows). The overall score is the mean of the sections present.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rmsweep.evaluation._files import check_limit, check_unique, data_files, read_rows
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._rates import check_lengths, mean, prefixed, rates

BENCH = "rewardbench"
MATH = "math-prm"
# RewardBench's SUBSET_MAPPING (rewardbench/constants.py): the benchmark's own definition.
SECTIONS: dict[str, tuple[str, ...]] = {
    "chat": (
        "alpacaeval-easy",
        "alpacaeval-length",
        "alpacaeval-hard",
        "mt-bench-easy",
        "mt-bench-med",
    ),
    "chat_hard": (
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ),
    "safety": (
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ),
    "reasoning": (MATH, "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}


def load(path: Path, limit: int | None = None) -> list[Comparison]:
    """One comparison per row; ``limit`` keeps the first rows (files in name order)."""
    check_limit(limit)
    base = path if path.is_dir() else path.parent
    comparisons: list[Comparison] = []
    seen: dict[str, str] = {}
    for file in data_files(path):
        for row in read_rows(file, file.relative_to(base).as_posix()):
            item_id = row.ident("id")
            check_unique(row, "id", item_id, seen)
            comparisons.append(
                Comparison(
                    bench=BENCH,
                    item_id=item_id,
                    prompt=row.text("prompt"),
                    chosen=row.text("chosen"),
                    rejected=row.text("rejected"),
                    group=row.text("subset"),
                    source=row.source,
                )
            )
            if limit is not None and len(comparisons) >= limit:
                return comparisons
    return comparisons


def score(comparisons: Sequence[Comparison], outcomes: Sequence[Outcome]) -> dict[str, float]:
    """``rewardbench.subset.<subset>`` (+ ``.n``), ``rewardbench.<section>``, ``.score``, rates."""
    check_lengths(comparisons, outcomes)
    by_subset: dict[str, list[float]] = defaultdict(list)
    for c, o in zip(comparisons, outcomes, strict=True):
        by_subset[c.group].append(o.correct)
    accuracy = {subset: mean(values) for subset, values in by_subset.items()}
    counts = {subset: len(values) for subset, values in by_subset.items()}
    out: dict[str, float] = {}
    for subset in sorted(by_subset):
        out[f"{BENCH}.subset.{subset}"] = accuracy[subset]
        out[f"{BENCH}.subset.{subset}.n"] = float(counts[subset])
    sections = section_scores(accuracy, counts)
    out.update({f"{BENCH}.{section}": value for section, value in sections.items()})
    if sections:
        out[f"{BENCH}.score"] = mean(list(sections.values()))
    out.update(prefixed(BENCH, rates(outcomes)))
    return out


def section_scores(accuracy: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """Each section present: its subsets' accuracies weighted by their counts (math = code)."""
    weights = {subset: float(n) for subset, n in counts.items()}
    code = sum(n for s, n in counts.items() if s in SECTIONS["reasoning"] and s != MATH)
    if MATH in weights and code:
        weights[MATH] = float(code)
    sections = {}
    for section, subsets in SECTIONS.items():
        present = [s for s in subsets if s in accuracy]
        if present:
            total = sum(weights[s] for s in present)
            sections[section] = sum(accuracy[s] * weights[s] for s in present) / total
    return sections
