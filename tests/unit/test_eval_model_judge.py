"""A model as a judge: batched greedy generation, both orders for pairwise, parsed answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmsweep.evaluation import EvalSettings, ModelSpec, evaluate
from rmsweep.evaluation._model_judge import ModelJudge
from rmsweep.templates import load_template
from rmsweep.tiny_model import save_untrained

REPO = Path(__file__).resolve().parents[2]
RMBENCH = REPO / "tests" / "fixtures" / "benchmarks" / "rmbench"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    texts = ["Rate how helpful the response is. <score>3</score>", "Which is better? [[A]]"]
    return ModelSpec.from_path(save_untrained(tmp_path_factory.mktemp("m") / "m", texts))


def settings(template: str, batch_size: int = 8) -> EvalSettings:
    return EvalSettings(
        benches={"rmbench": str(RMBENCH)},
        template=load_template(template),
        batch_size=batch_size,
        max_new_tokens=6,
    )


def test_a_judgment_does_not_depend_on_its_batch_mates(model: ModelSpec) -> None:
    records = [{"prompt": f"Question {i}?", "response": "word " * (i % 5 + 1)} for i in range(10)]
    batched = ModelJudge(model, settings("pointwise_plain", batch_size=8)).generate(records)
    alone = ModelJudge(model, settings("pointwise_plain", batch_size=1)).generate(records)
    assert batched == alone
    assert all(isinstance(text, str) for text in batched)


def test_pointwise_scores_each_distinct_response_once(model: ModelSpec) -> None:
    report = evaluate(settings("pointwise_plain"), model)
    [bench] = report.benches
    assert len(bench.comparisons) == 27  # 3 rows x 3x3 style cells
    distinct = {(c.prompt, r) for c in bench.comparisons for r in (c.chosen, c.rejected)}
    assert report.generated == len(distinct) and len(distinct) > 9  # up to 6 per row, not 18
    scores = bench.scores[report.model]
    assert scores["rmbench.tie_rate"] + scores["rmbench.unparsed_rate"] <= 1.0
    assert set(bench.scores) == {report.model, "baseline:length", "baseline:random"}


def test_pairwise_judges_every_pair_in_both_orders(model: ModelSpec) -> None:
    report = evaluate(settings("pairwise_verdict"), model)
    [bench] = report.benches
    assert report.task == "pairwise"
    orders = {
        t
        for c in bench.comparisons
        for t in ((c.prompt, c.chosen, c.rejected), (c.prompt, c.rejected, c.chosen))
    }
    assert report.generated == len(orders) > 27  # each pair in both orders
    outcomes = bench.outcomes[report.model]
    assert all(o.verdicts is not None and len(o.verdicts) == 2 for o in outcomes)
    assert "rmbench.consistency" in bench.scores[report.model]
    # the baselines stay pointwise judges beside a pairwise model
    assert bench.outcomes["baseline:length"][0].verdicts is None
