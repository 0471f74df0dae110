"""A study as the MLflow UI and a terminal show it: best-so-far history, links, fitted tables."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from rmsweep import links
from rmsweep.study import _optuna as O
from rmsweep.study import parse_spec
from rmsweep.study._report import compare_table, print_fitted
from rmsweep.study._tracking import best_so_far
from rmsweep.study._ui import compared_run_ids, study_links

SPEC = """\
name: ui
base: [device=cpu]
objective: [{metric: val/acc, direction: maximize}, {metric: val/abs_error, direction: minimize}]
space:
  template: [pointwise_plain, a_template_with_a_rather_long_name_indeed]
n_trials: 6
"""


def make_study(outcomes: list[tuple[TrialState, list[float] | None]]) -> optuna.Study:
    """An in-memory study whose trials have these states and values, and MLflow run ids."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], study_name="ui")
    study.set_user_attr(O.STUDY_EXPERIMENT_ID, "4")
    choices = CategoricalDistribution(["pointwise_plain", "a_template_with_a_rather_long_name"])
    for number, (state, values) in enumerate(outcomes):
        study.add_trial(
            create_trial(
                state=state,
                values=values,
                params={"template": choices.choices[number % 2]},
                distributions={"template": choices},
                user_attrs={O.ATTR_RUN_ID: f"{number:02d}" + "f" * 30},
            )
        )
    return study


def test_best_so_far_steps_by_trial_number_per_objective_and_direction() -> None:
    complete = TrialState.COMPLETE
    study = make_study(
        [
            (complete, [0.5, 1.0]),
            (TrialState.FAIL, None),
            (complete, [0.4, 0.5]),
            (TrialState.PRUNED, None),
            (complete, [0.7, 0.8]),
        ]
    )
    objectives = parse_spec(SPEC, source="t.yaml", check_config=False).objectives
    history = best_so_far(study.get_trials(), objectives)
    assert history == {
        "val/acc": [(0, 0.5), (2, 0.5), (4, 0.7)],
        "val/abs_error": [(0, 1.0), (2, 0.5), (4, 0.5)],
    }


def test_the_compare_link_holds_the_trials_with_results_in_trial_order() -> None:
    study = make_study(
        [(TrialState.COMPLETE, [0.5, 1.0]), (TrialState.FAIL, None), (TrialState.PRUNED, None)]
    )
    run = [t.user_attrs[O.ATTR_RUN_ID] for t in study.trials]
    assert compared_run_ids(study) == [run[0], run[2]]
    found = study_links(study, "http://127.0.0.1:5123")
    assert found.runs == links.experiment_url("http://127.0.0.1:5123", "4")
    assert found.compare == links.compare_url("http://127.0.0.1:5123", [run[0], run[2]], ["4"])
    only_failed = make_study([(TrialState.FAIL, None)])
    assert compared_run_ids(only_failed) == [only_failed.trials[0].user_attrs[O.ATTR_RUN_ID]]


def test_compare_prints_whole_run_ids_and_template_names_when_piped() -> None:
    study = make_study([(TrialState.COMPLETE, [0.1 * i, 1.0]) for i in range(1, 5)])
    objectives = parse_spec(SPEC, source="t.yaml", check_config=False).objectives
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)  # what a pipe gets
    print_fitted(console, compare_table(study, objectives, top=4))
    text = out.getvalue()
    for trial in study.trials:
        assert trial.user_attrs[O.ATTR_RUN_ID] in text
    assert "a_template_with_a_rather_long_name" in text
    assert "val/acc (max)" in text and "val/abs_error (min)" in text  # no column squeezed
    assert "…" not in text
    assert console.width == 80  # the console is left as it was


@pytest.mark.skipif(
    importlib.util.find_spec("optuna_dashboard") is not None,
    reason="optuna-dashboard is installed here: this checks the message given without it",
)
def test_dashboard_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="s", storage=url)
    env = {k: v for k, v in os.environ.items() if k != "RMSWEEP_STORAGE"}
    env["RMSWEEP_HOME"] = str(tmp_path / "home")
    cli = [sys.executable, "-c", "from rmsweep.cli import main; main()"]
    done = subprocess.run(
        [*cli, "study", "dashboard", "s", "--storage", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: optuna-dashboard is not installed: pip install 'rmsweep[dashboard]' "
        "(or `rmsweep ui` for the MLflow UI, which needs nothing more)"
    ]


LIVE = """\
# live table test
name: live
base: [device=cpu, trainer.total_steps=3]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
enqueue: [{reward: linear}, {reward: exact}]
sampler: random
n_trials: 2
"""


@pytest.mark.timeout(300)
def test_launch_on_a_terminal_draws_one_live_table(tmp_path: Path) -> None:
    import pty

    spec = tmp_path / "live.yaml"
    spec.write_text(LIVE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "RMSWEEP_STORAGE")}
    env.update(RMSWEEP_HOME=str(tmp_path / "home"), RMSWEEP_SLEEP_STEP_S="0.05", COLUMNS="160")
    env.pop("MLFLOW_TRACKING_URI", None)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    cli = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study", "launch"]
    terminal, child_side = pty.openpty()
    proc = subprocess.Popen(
        [*cli, str(spec), "--runner", "sleep-local", "--poll", "0.1", "--storage", storage],
        stdin=child_side,
        stdout=child_side,
        stderr=child_side,
        env=env,
    )
    os.close(child_side)
    chunks = []
    while True:
        try:
            data = os.read(terminal, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(terminal)
    assert proc.wait(timeout=60) == 0
    shown = b"".join(chunks).decode(errors="replace")
    assert "\x1b[?25l" in shown  # rich's live display hides the cursor while it redraws
    assert "study live: 2 complete" in shown  # the table's title once both are done
    assert "best so far: trial" in shown and "3/3" not in shown and "2/2" in shown
