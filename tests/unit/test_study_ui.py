"""A study as the MLflow UI and a terminal show it: best-so-far history, links, fitted tables."""

from __future__ import annotations

import io

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from rmsweep import links, names
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
    study.set_user_attr(names.STUDY_EXPERIMENT_ID, "4")
    choices = CategoricalDistribution(["pointwise_plain", "a_template_with_a_rather_long_name"])
    for number, (state, values) in enumerate(outcomes):
        study.add_trial(
            create_trial(
                state=state,
                values=values,
                params={"template": choices.choices[number % 2]},
                distributions={"template": choices},
                user_attrs={names.ATTR_RUN_ID: f"{number:02d}" + "f" * 30},
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
    run = [t.user_attrs[names.ATTR_RUN_ID] for t in study.trials]
    assert compared_run_ids(study) == [run[0], run[2]]
    found = study_links(study, "http://127.0.0.1:5123")
    assert found.runs == links.experiment_url("http://127.0.0.1:5123", "4")
    assert found.compare == links.compare_url("http://127.0.0.1:5123", [run[0], run[2]], ["4"])
    only_failed = make_study([(TrialState.FAIL, None)])
    assert compared_run_ids(only_failed) == [only_failed.trials[0].user_attrs[names.ATTR_RUN_ID]]


def test_compare_prints_whole_run_ids_and_template_names_when_piped() -> None:
    study = make_study([(TrialState.COMPLETE, [0.1 * i, 1.0]) for i in range(1, 5)])
    objectives = parse_spec(SPEC, source="t.yaml", check_config=False).objectives
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)  # what a pipe gets
    print_fitted(console, compare_table(study, objectives, top=4))
    text = out.getvalue()
    for trial in study.trials:
        assert trial.user_attrs[names.ATTR_RUN_ID] in text
    assert "a_template_with_a_rather_long_name" in text
    assert "val/acc (max)" in text and "val/abs_error (min)" in text  # no column squeezed
    assert "…" not in text
    assert console.width == 80  # the console is left as it was
