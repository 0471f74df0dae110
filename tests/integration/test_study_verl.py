"""`rmsweep study launch sweeps/quickstart.yaml` with real veRL trials on the CPU.

The shipped quickstart spec, shrunk on the command line (a few GRPO steps, two trials) and
with the synthetic RM-Bench score as its objective: the MLflow store must then hold one parent
run and one child run per trial, with params named like Optuna's, per-step metrics, and
objective values equal to Optuna's trial values, read from the runs' eval metrics.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.study import aggregate, load_spec

REPO = Path(__file__).resolve().parents[2]
SMALL = ["trainer.total_steps=2", "trainer.test_freq=1", "eval.limit=6"]  # on top of small_run
ACC = "val-core/synthetic/acc/mean_at_1"
OBJECTIVE = "eval/rmbench/avg"


@pytest.fixture(scope="module")
def quickstart(new_home, small_run: list[str]):
    home = new_home("study")
    root = home.parent
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home))
    env.pop("RMSWEEP_STORAGE", None)
    # The quickstart as shipped, judged by its benchmark instead of val/acc (no pruning then).
    data = yaml.safe_load((REPO / "sweeps" / "quickstart.yaml").read_text())
    data["objective"] = [{"metric": OBJECTIVE, "direction": "maximize"}]
    data["pruner"] = {"name": "none"}
    data["eval"]["rmbench"] = str(REPO / "evalsets" / "synthetic-rmbench")
    spec = root / "quickstart_eval.yaml"
    spec.write_text(yaml.safe_dump(data))
    command = [
        sys.executable, "-c", "from rmsweep.cli import main; main()",
        "study", "launch", str(spec), *small_run, *SMALL, "--trials", "2", "--name", "qs-smoke",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    storage = f"sqlite:///{root / 'home' / 'optuna.db'}"
    study = optuna.load_study(study_name="qs-smoke", storage=storage)
    client = MlflowClient(f"sqlite:///{root / 'home' / 'mlflow.db'}")
    return study, client, load_spec(spec)


def test_one_parent_and_one_child_per_trial(quickstart) -> None:
    study, client, _ = quickstart
    experiment = client.get_experiment_by_name("qs-smoke")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if names.TAG_PARENT not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_id == study.user_attrs[names.STUDY_PARENT_RUN]
    children = [r for r in runs if r.data.tags.get(names.TAG_PARENT) == parents[0].info.run_id]
    assert len(children) == len(study.trials) == 2
    assert sorted(int(r.data.tags[names.TAG_TRIAL]) for r in children) == [0, 1]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_trial_params_steps_and_objective_match_optuna(quickstart) -> None:
    study, client, spec = quickstart
    for trial in study.trials:
        run = client.get_run(trial.user_attrs[names.ATTR_RUN_ID])
        params = run.data.params
        assert run.data.tags[names.TAG_STATE] == "complete"
        assert params["trainer.total_steps"] == "2"  # the resolved config, as run params
        for key, value in trial.params.items():
            recorded = params[key]  # `reward`, `template`: the group choice; `reward.k`: a key
            assert (float(recorded) if isinstance(value, float) else recorded) == value
        if "reward.k" in trial.params:
            assert float(params["reward.k"]) == pytest.approx(trial.params["reward.k"])
        # Keys that only restate a swept choice are not params (MLflow's compare view plots
        # the first differing params): the choice itself is.
        assert "template.name" not in params and "reward.shape" not in params
        history = client.get_metric_history(run.info.run_id, ACC)
        assert len({m.step for m in history}) >= 2  # validations at several steps
        assert spec.objectives[0].metric == OBJECTIVE
        evaluated = client.get_metric_history(run.info.run_id, OBJECTIVE)
        value = aggregate([(m.step, m.value) for m in evaluated], spec.objectives[0])
        assert value == pytest.approx(trial.value)
        assert run.data.metrics[f"objective/{OBJECTIVE}"] == pytest.approx(trial.value)
        assert "baseline/length/rmbench/avg" in run.data.metrics


def test_best_trial_is_registered_with_its_benchmark_scores(quickstart) -> None:
    study, client, _ = quickstart
    home = Path(client.tracking_uri.removeprefix("sqlite:///")).parent  # the study's RMSWEEP_HOME
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home))
    command = [
        sys.executable, "-c", "from rmsweep.cli import main; main()",
        "study", "best", "qs-smoke", "--register", "tiny-rm",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    best_run = study.best_trial.user_attrs[names.ATTR_RUN_ID]
    [version] = client.search_model_versions("name='tiny-rm'")
    assert version.run_id == best_run
    assert version.source == f"runs:/{best_run}/checkpoint"
    assert float(version.tags[OBJECTIVE]) == pytest.approx(study.best_value, abs=1e-5)
    assert "registered tiny-rm version 1" in done.stdout


def test_trial_runs_read_in_rmsweeps_words_in_the_mlflow_ui(quickstart) -> None:
    """Params: the dotted keys, swept ones first (veRL's config is one artifact); metrics: the
    short names too; the parent: the best value so far, stepped by trial number."""
    study, client, spec = quickstart
    for trial in study.trials:
        run_id = trial.user_attrs[names.ATTR_RUN_ID]
        run = client.get_run(run_id)
        params = list(run.data.params)
        assert [key for key in params if "/" in key] == []
        assert set(params[: len(trial.params)]) == set(trial.params)  # the swept keys lead
        assert "config/verl.yaml" in {a.path for a in client.list_artifacts(run_id, "config")}
        steps = sorted(m.step for m in client.get_metric_history(run_id, "val/acc"))
        assert len(steps) >= 2 and steps == sorted(
            m.step for m in client.get_metric_history(run_id, ACC)
        )
        assert trial.user_attrs[names.ATTR_RUN_URL].endswith(
            f"/runs/{run_id}?workflowType=machine_learning"
        )
    parent = study.user_attrs[names.STUDY_PARENT_RUN]
    best = client.get_metric_history(parent, f"best/{spec.objectives[0].metric}")
    assert sorted(m.step for m in best) == [t.number for t in study.trials]
    assert max(m.value for m in best) == pytest.approx(study.best_value)


def test_compare_by_reward_and_the_report_read_real_judgments(quickstart, tmp_path: Path) -> None:
    """On real trials: one level per reward shape, judged on the synthetic RM-Bench items (the
    level's score is the run's own eval/rmbench/avg); the report page is written."""
    import json

    study, client, _ = quickstart
    home = Path(client.tracking_uri.removeprefix("sqlite:///")).parent
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home))
    cli = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study"]
    done = subprocess.run(
        [*cli, "compare", "qs-smoke", "--by", "reward", "--json"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = json.loads(done.stdout)
    assert table["judged_on"] == "rmbench (avg)"
    for level in table["levels"]:
        (number,) = level["trials"]
        run = client.get_run(study.trials[number].user_attrs[names.ATTR_RUN_ID])
        assert level["scores"]["rmbench"]["mean"] == pytest.approx(run.data.metrics[OBJECTIVE])
        assert "reward.shape" not in run.data.params and "template.name" not in run.data.params
        if level["level"] != "exponential":
            assert "reward.k" not in run.data.params  # not sampled for this shape
    assert sorted(level["verdict"] for level in table["levels"])[0] == "best"
    out = tmp_path / "report.html"
    done = subprocess.run(
        [*cli, "report", "qs-smoke", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert out.stat().st_size > 1_000_000 and "verdict-table" in out.read_text()  # plotly.js inside
