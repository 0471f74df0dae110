"""`study compare --by KEY` (rmsweep.study.level_table) on planted studies: real Optuna and
MLflow sqlite stores, trials whose runs carry made-up RM-Bench judgments. A level that is
much better is the best and the others are called "worse"; two identical levels are not told
apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution

from rmsweep import names
from rmsweep.errors import ConfigError
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._rates import judgment_rows
from rmsweep.intervals import SAME, WORSE
from rmsweep.study import Objective, level_table
from rmsweep.tracking import ensure_experiment, tracking_client

LEVELS = ["exact", "linear", "exponential"]


def _judged(accuracy: float, seed: int, prompts: int = 50) -> pd.DataFrame:
    """Made-up RM-Bench judgments of one run."""
    rng = np.random.default_rng(seed)
    comparisons, outcomes = [], []
    for p in range(prompts):
        for i in range(3):
            for j in range(3):
                comparisons.append(Comparison("rmbench", f"p{p}", "q", "c", "r", "chat", (i, j)))
                outcomes.append(Outcome(float(rng.random() < accuracy), False, False))
    return pd.DataFrame(judgment_rows(comparisons, outcomes))


def _study(tmp_path: Path, accuracy: dict[str, float]) -> tuple[optuna.Study, object]:
    client = tracking_client(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = ensure_experiment(client, "levels", tmp_path / "artifacts")
    study = optuna.create_study(study_name="levels", direction="maximize")
    seed = 0
    for level, acc in accuracy.items():
        for template in ("plain", "fewshot"):  # two trials per level
            seed += 1
            run_id = client.create_run(experiment).info.run_id
            client.log_table(
                run_id, data=_judged(acc, seed), artifact_file=names.JUDGMENTS_ARTIFACT
            )
            client.set_terminated(run_id)
            study.add_trial(
                optuna.trial.create_trial(
                    params={"reward": level, "template": template},
                    distributions={
                        "reward": CategoricalDistribution(LEVELS),
                        "template": CategoricalDistribution(["plain", "fewshot"]),
                    },
                    value=acc + 0.01 * seed,
                    user_attrs={names.ATTR_RUN_ID: run_id},
                )
            )
    return study, client


OBJECTIVE = [Objective("val/acc")]


def test_a_much_better_level_is_best_and_the_others_are_worse(tmp_path: Path) -> None:
    study, client = _study(tmp_path, {"exact": 0.9, "linear": 0.55, "exponential": 0.5})
    table = level_table(study, client, OBJECTIVE, "reward")
    verdicts = {level.value: level.verdict for level in table.levels}
    assert verdicts == {"exact": "best", "linear": WORSE, "exponential": WORSE}
    assert table.judged == "rmbench (avg)"
    exact = next(level for level in table.levels if level.value == "exact")
    mean, low, high = exact.scores["rmbench"]
    assert low < mean < high and mean == pytest.approx(0.9, abs=0.05)
    assert len(exact.trials) == 2
    data = table.to_dict()
    assert data["by"] == "reward" and [lv["verdict"] for lv in data["levels"]] == [
        verdicts[lv["level"]] for lv in data["levels"]
    ]


def test_identical_levels_are_no_detectable_difference(tmp_path: Path) -> None:
    study, client = _study(tmp_path, {"exact": 0.7, "linear": 0.7})
    table = level_table(study, client, OBJECTIVE, "reward")
    assert sorted(level.verdict for level in table.levels) == ["best", SAME]


def test_a_key_not_swept_is_refused_naming_the_swept_ones(tmp_path: Path) -> None:
    study, client = _study(tmp_path, {"exact": 0.7})
    with pytest.raises(ConfigError, match=r"--by lr: not a swept key .*swept: reward, template"):
        level_table(study, client, OBJECTIVE, "lr")
