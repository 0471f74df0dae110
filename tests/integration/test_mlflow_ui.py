"""The MLflow UI as a user opens it: `rmsweep ui STUDY` and its links in headless Chromium.

A small study runs with the stand-in sleep runner (real MLflow and Optuna stores, real job
processes, no training); `rmsweep ui` runs as a real subprocess; Debian's chromium, driven by
Playwright, opens the URLs it prints. Screenshots land in the test's tmp dir. Skips, saying
why, only where there is no browser.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from rmsweep import names
from rmsweep.study import launch_study, parse_spec
from rmsweep.testing import SleepJobRunner

pytestmark = pytest.mark.timeout(900)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOAD_MS = 60_000  # a cold page on two busy cores
SPEC = """\
# The UI test's study: three sleep-job trials, every swept key used at least once.
name: uitest
base: [device=cpu, trainer.total_steps=3]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exponential, exact]
  reward.k: {type: float, low: 2.0, high: 8.0, when: {reward: exponential}}
  template: [pointwise_plain, pointwise_fewshot]
enqueue:
  - {reward: exact, template: pointwise_plain}
  - {reward: exponential, reward.k: 4.0, template: pointwise_fewshot}
  - {reward: linear, template: pointwise_fewshot}
sampler: random
n_trials: 3
"""
SWEPT = {"reward", "reward.k", "template"}
RUN_NAME_CELL = "[role=gridcell][col-id='attributes.`Run Name`']"


@dataclass
class Ui:
    process: subprocess.Popen[str]
    base: str
    runs: str
    compare: str
    study: optuna.Study
    tracking_uri: str
    shots: Path


def _browser_or_skip():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'"
    )
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"no browser at {CHROMIUM}: apt-get install -y chromium (as root; .ci/run does)"
        )
    return sync_api


@pytest.fixture(scope="module")
def browser():
    sync_api = _browser_or_skip()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh browser profile per test: MLflow remembers the last view in local storage."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(LOAD_MS)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def ui(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui")
    storage = f"sqlite:///{root / 'optuna.db'}"
    env = {"RMSWEEP_HOME": str(root / "home"), "RMSWEEP_SLEEP_STEP_S": "0.05"}
    with pytest.MonkeyPatch.context() as patch:
        for key in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "RMSWEEP_STORAGE", "RMSWEEP_UI_URL"):
            patch.delenv(key, raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        outcome = launch_study(
            parse_spec(SPEC, source="uitest.yaml"),
            storage=storage,
            runner=SleepJobRunner.factory(launcher="process"),
            poll_s=0.05,
            echo=lambda line: None,
        )
        assert outcome.summary["counts"]["complete"] == 3, outcome.summary
        process = subprocess.Popen(
            [sys.executable, "-c", "from rmsweep.cli import main; main()", "ui", "uitest"],
            env={**os.environ, "RMSWEEP_STORAGE": storage},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    printed = _read_links(process)
    try:
        yield Ui(
            process=process,
            base=printed["base"],
            runs=printed["runs"],
            compare=printed["compare"],
            study=optuna.load_study(study_name="uitest", storage=storage),
            tracking_uri=outcome.tracking_uri,
            shots=root,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def _read_links(process: subprocess.Popen[str]) -> dict[str, str]:
    """What `rmsweep ui` prints once its server answers: the base URL, runs and compare."""
    assert process.stdout is not None
    seen: dict[str, str] = {}
    for line in process.stdout:
        if found := re.search(r": (http://127\.0\.0\.1:\d+) \(Ctrl-C stops it", line):
            seen["base"] = found.group(1)
        elif line.startswith(("runs:", "compare:")):
            key, _, url = line.partition(":")
            seen[key] = url.strip()
        if "compare" in seen:
            return seen
    pytest.fail(f"`rmsweep ui` ended (code {process.wait()}) before printing its links: {seen}")


def test_the_runs_url_opens_the_trials_unfolded_with_their_params_and_scores(ui: Ui, page) -> None:
    assert ui.runs.startswith(ui.base) and "workflowType=machine_learning" in ui.runs
    assert "viewStateShareKey=" in ui.runs  # a view stored on the experiment
    page.goto(ui.runs)
    trial_names = [f"uitest-trial-{n}" for n in range(3)]
    page.get_by_text(trial_names[-1], exact=True).first.wait_for()
    # The model-training view's side bar, not the GenAI one (Evaluation, Judges, Prompts).
    assert page.get_by_text("Model registry", exact=True).is_visible()
    for genai in ("Judges", "Evaluation runs", "Sessions"):
        assert page.get_by_text(genai, exact=True).count() == 0, genai
    names_shown = page.locator(f"{RUN_NAME_CELL} a").all_inner_texts()
    assert sorted(names_shown) == trial_names  # unfolded, without the study's parent run
    values = {t.user_attrs[names.ATTR_RUN_ID]: t.value for t in ui.study.trials}
    best_first = sorted(ui.study.trials, key=lambda t: -t.value)
    assert names_shown[0] == f"uitest-trial-{best_first[0].number}", (names_shown, values)
    headers = page.locator("[role=columnheader]").all_inner_texts()
    for column in (*sorted(SWEPT), "val/acc"):
        assert any(h.strip() == column for h in headers), (column, headers)
    page.screenshot(path=str(ui.shots / "runs.png"))


def test_the_compare_url_plots_the_swept_params_against_val_acc(ui: Ui, page) -> None:
    page.goto(ui.compare)
    page.locator(".parcoords .axis-title").first.wait_for()
    page.wait_for_function("document.querySelectorAll('.parcoords .axis-title').length >= 4")
    axes = page.locator(".parcoords .axis-title").all_text_contents()
    assert set(axes) == SWEPT | {"val/acc"}, axes
    assert page.get_by_text("Comparing 3 Runs from 1 Experiment").is_visible()
    params = _section_rows(page, "Parameters")
    assert SWEPT <= set(params), params
    assert [key for key in params if "/" in key] == []  # rmsweep's dotted keys only
    _section(page, "Metrics").get_by_text("val/acc", exact=True).wait_for()
    page.screenshot(path=str(ui.shots / "compare.png"), full_page=True)


def test_each_trial_links_its_run_page_and_the_parent_charts_the_best_so_far(ui: Ui, page) -> None:
    trials = sorted(ui.study.trials, key=lambda t: t.number)
    for trial in trials:
        url = trial.user_attrs[names.ATTR_RUN_URL]
        assert url.endswith(
            f"/runs/{trial.user_attrs[names.ATTR_RUN_ID]}?workflowType=machine_learning"
        )
    # Stored for the default UI address (`rmsweep ui` takes 5000 when free): open it here.
    page.goto(ui.base + "/#/" + trials[1].user_attrs[names.ATTR_RUN_URL].partition("/#/")[2])
    page.get_by_text("uitest-trial-1", exact=True).first.wait_for()
    assert page.get_by_text("Model registry", exact=True).is_visible()
    client = MlflowClient(ui.tracking_uri)
    parent = ui.study.user_attrs[names.STUDY_PARENT_RUN]
    history = sorted((m.step, m.value) for m in client.get_metric_history(parent, "best/val/acc"))
    values = [t.value for t in trials]
    assert history == [(n, max(values[: n + 1])) for n in range(3)]


def test_sigterm_stops_the_ui_and_its_server(ui: Ui) -> None:
    ui.process.send_signal(signal.SIGTERM)
    output, _ = ui.process.communicate(timeout=60)
    assert ui.process.returncode == 0, output
    assert "MLflow UI stopped" in output
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{ui.base}/health", timeout=5)


def _section(page, title: str):
    """The compare page's collapsible section ``title`` (Parameters, Metrics, Tags)."""
    return page.locator(".du-bois-light-collapse-item").filter(
        has=page.get_by_text(title, exact=True)
    )


def _section_rows(page, title: str) -> list[str]:
    """The first cell of each row of the section's table: the param names."""
    rows = _section(page, title).locator("table tr")
    rows.first.wait_for()
    return [text.split("\t")[0].strip() for text in rows.all_inner_texts()]
