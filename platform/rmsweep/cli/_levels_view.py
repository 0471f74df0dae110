"""How `study compare --by` prints: the verdict table and Optuna's parameter importances."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from rich.table import Table

    from rmsweep.study import LevelTable


def _interval(mean: float, low: float, high: float) -> str:
    if low == high:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def levels_view(table: LevelTable) -> Table:
    from rich.table import Table

    benches = sorted({b for level in table.levels for b in level.scores})
    view = Table(
        title=f"by {table.key}: means with 95% intervals; verdicts on {table.judged}",
        caption="difference to the best level: paired bootstrap over benchmark items "
        "(whole prompts) and the level's trials; a verdict only when the interval excludes 0",
    )
    view.add_column(table.key)
    view.add_column("trials", justify="right")
    view.add_column(table.objective)
    for bench in benches:
        view.add_column(bench)
    view.add_column("vs best")
    view.add_column("verdict")
    for level in table.levels:
        diff = level.versus_best
        view.add_row(
            level.value,
            str(len(level.trials)),
            _interval(*level.objective),
            *[_interval(*level.scores[b]) if b in level.scores else "—" for b in benches],
            "—" if diff is None else _interval(diff.estimate, diff.low, diff.high),
            level.verdict,
        )
    return view


def importances_line(study: optuna.Study) -> str:
    """Optuna's parameter importances (fANOVA) of the first objective, mean ± spread: over the
    replicate seeds (one fit per seed's trials) when the study has replicates, else over the
    fANOVA forest's own seeds; or why there are none yet."""
    import statistics

    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.trial import TrialState

    from rmsweep import names

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    seeds = sorted(
        {t.user_attrs[names.ATTR_REPLICATE] for t in done if names.ATTR_REPLICATE in t.user_attrs}
    )
    fits: list[dict[str, float]] = []
    why = "no complete trial"
    for k in seeds or range(5):
        trials = [t for t in done if t.user_attrs.get(names.ATTR_REPLICATE) == k] if seeds else done
        if len(trials) < 2:  # nothing to tell parameters apart by
            why = "fewer than 2 complete trials"
            continue
        one = optuna.create_study(directions=study.directions)
        one.add_trials(trials)
        evaluator = FanovaImportanceEvaluator(seed=0 if seeds else k)
        try:
            fits.append(
                optuna.importance.get_param_importances(
                    one, target=lambda t: t.values[0], evaluator=evaluator
                )
            )
        except (RuntimeError, ValueError) as err:  # too few trials, a single-valued space
            why = str(err).splitlines()[0]
    if not fits:
        return f"parameter importances: none yet ({why})"
    over = "replicate seeds" if seeds else "fANOVA seeds"
    keys = sorted(
        {k for fit in fits for k in fit},
        key=lambda k: -statistics.fmean(f.get(k, 0.0) for f in fits),
    )
    parts = []
    for key in keys:
        values = [fit.get(key, 0.0) for fit in fits]
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        parts.append(f"{key} {statistics.fmean(values):.2f} ± {spread:.2f}")
    return f"parameter importances (fANOVA, mean ± sd over {len(fits)} {over}): " + ", ".join(parts)
