"""How `study compare --by` prints: the verdict table and Optuna's parameter importances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    """Optuna's parameter importances (fANOVA) of the first objective, or why there are none."""
    import optuna

    try:
        found: dict[str, Any] = optuna.importance.get_param_importances(
            study, target=lambda t: t.values[0]
        )
    except (RuntimeError, ValueError) as err:  # too few trials, a single-valued space
        return f"parameter importances: none yet ({str(err).splitlines()[0]})"
    return "parameter importances (fANOVA): " + ", ".join(f"{k} {v:.2f}" for k, v in found.items())
