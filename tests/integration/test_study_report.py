"""`rmsweep study report NAME`: one self-contained HTML page, opened in a real browser.

A study of sleep-job trials (real Optuna and MLflow stores, real processes) whose runs then
get MADE-UP evaluation records (RM-Bench judgments, eval and length-baseline metrics) as a
judged run would log them; `study report` writes the page and logs it on the parent run;
Debian's Chromium, driven by Playwright, renders it from a file: URL (no server, no
network) and the figures hold the study's numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from integration.test_mlflow_ui import CHROMIUM_ARGS, _browser_or_skip
from mlflow import MlflowClient

from rmsweep import names
from rmsweep.evaluation._items import Comparison, Outcome
from rmsweep.evaluation._rates import judgment_rows
from rmsweep.study import launch_study, parse_spec
from rmsweep.testing import SleepJobRunner, SleepPlan

pytestmark = pytest.mark.timeout(600)
CHROMIUM = "/usr/bin/chromium"
SPEC = """\
name: reportstudy
base: [device=cpu]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
  template: [pointwise_plain, pointwise_fewshot]
sampler: {name: grid}
n_trials: 4
"""
ACCURACY = {"exact": 0.9, "linear": 0.5}  # made up: exact is much better


def plan(params: dict[str, str]) -> SleepPlan:
    top = ACCURACY[params["reward"]]
    curves = {"val/acc": [top / 2, top], "val/pred_3": [0.5, 0.4], "val/pred_4": [0.5, 0.6]}
    return SleepPlan(curves, 0.01)


def _made_up_judgments(accuracy: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    comparisons, outcomes = [], []
    for p in range(30):
        for i in range(3):
            for j in range(3):
                comparisons.append(Comparison("rmbench", f"p{p}", "q", "c", "r", "chat", (i, j)))
                outcomes.append(
                    Outcome(float(rng.random() < accuracy - 0.1 * (j - i)), False, False)
                )
    return pd.DataFrame(judgment_rows(comparisons, outcomes))


def test_the_report_renders_every_figure_with_the_studys_numbers(tmp_path: Path) -> None:
    sync_api = _browser_or_skip()
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for key in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "RMSWEEP_STORAGE"):
            patch.delenv(key, raising=False)
        patch.setenv("RMSWEEP_HOME", str(tmp_path / "home"))
        outcome = launch_study(
            parse_spec(SPEC, source="reportstudy.yaml"),
            storage=storage,
            runner=SleepJobRunner.factory(launcher="process", plan=plan),
            poll_s=0.05,
            echo=lambda line: None,
        )
    client = MlflowClient(outcome.tracking_uri)
    study = optuna.load_study(study_name="reportstudy", storage=storage)
    easy = {}
    for trial in study.trials:
        run_id = trial.user_attrs[names.ATTR_RUN_ID]
        accuracy = ACCURACY[trial.params["reward"]]
        client.log_table(run_id, data=_made_up_judgments(accuracy, trial.number),
                         artifact_file=names.JUDGMENTS_ARTIFACT)  # fmt: skip
        easy[trial.number] = accuracy + 0.05
        for key, value in {"eval/rmbench/easy": easy[trial.number],
                           "eval/rmbench/hard": accuracy - 0.2,
                           "baseline/length/rmbench/easy": 0.8,
                           "baseline/length/rmbench/normal": 0.5,
                           "baseline/length/rmbench/hard": 0.2}.items():  # fmt: skip
            client.log_metric(run_id, key, value)
    out = tmp_path / "report.html"
    env = {**os.environ, "RMSWEEP_HOME": str(tmp_path / "home"), "RMSWEEP_STORAGE": storage}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", "from rmsweep.cli import main; main()", "study", "report",
         "reportstudy", "--by", "reward", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"report: {out}" in done.stdout
    parent = study.user_attrs[names.STUDY_PARENT_RUN]
    logged = [a.path for a in client.list_artifacts(parent, "report")]
    assert logged == ["report/index.html", "report/verdicts.json"]
    verdicts = json.loads(
        Path(client.download_artifacts(parent, "report/verdicts.json", str(tmp_path))).read_text()
    )
    assert [lv["verdict"] for lv in verdicts["levels"]] == ["best", "worse"]

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(
            "**/*",
            lambda route: (
                route.abort() if not route.request.url.startswith("file:") else route.continue_()
            ),
        )  # fmt: skip  (no network: the page holds everything)
        page.goto(out.as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5")
        rows = page.locator("#verdict-table tr").all_inner_texts()
        assert len(rows) == 3  # header, exact, linear
        assert rows[1].split("\t")[0] == "exact" and rows[1].split("\t")[-1] == "best"
        assert rows[2].split("\t")[0] == "linear" and rows[2].split("\t")[-1] == "worse"
        titles = page.evaluate(
            "[...document.querySelectorAll('.js-plotly-plot')].map(p => p.layout.title.text)"
        )
        assert len(titles) == 5, titles
        assert [t.split(" ")[0] for t in titles] == [
            "val/acc",
            "difference",
            "RM-Bench",
            "RM-Bench",
            "validation",
        ]
        shown_easy = page.evaluate("document.querySelectorAll('.js-plotly-plot')[3].data[0].x")
        assert sorted(shown_easy) == pytest.approx(sorted(easy.values()))
        forest = page.evaluate("document.querySelectorAll('.js-plotly-plot')[1].data[0]")
        assert forest["y"] == ["linear"] and forest["x"][0] < 0  # linear is worse than exact
        matrices = page.evaluate("document.querySelectorAll('.js-plotly-plot')[2].data.length")
        assert matrices == 4  # one 3×3 matrix per trial
        browser.close()
