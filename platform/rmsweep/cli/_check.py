"""``--check`` and ``study validate``: what veRL says of a run's or a study's jobs, printed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmsweep.verl_check import JobPlan


def print_plans(plans: Sequence[JobPlan], title: str) -> None:
    """One table per stage, then the verdict line."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True)
    for plan in plans:
        table = Table(
            "", "", title=f"{title}: {plan.stage}", show_header=False, title_justify="left"
        )
        for what, value in plan.rows():
            table.add_row(what, value)
        console.print(table)
    console.print("veRL's own validation passed: no run, no job, no file was made.")


def check_spec(path: Path, overrides: Sequence[str]) -> None:
    """``study launch --check``: every corner of the spec's space through veRL's validation,
    then the job of the corner that needs the most memory per GPU."""
    from rich.console import Console

    from rmsweep.study import check_space, load_spec

    checked = check_space(load_spec(path), overrides)
    shown = ", ".join(f"{k}={v}" for k, v in checked.values.items()) or "the base"
    Console(soft_wrap=True).print(
        f"{path}: {checked.corners} corners of the space pass veRL's validation"
    )
    print_plans(checked.plans, title=f"the largest trial's job ({shown})")


def validate_specs(specs: Sequence[Path], *, check_config: bool) -> None:
    """``study validate``: each spec parsed and checked; with configs/, every corner of its
    space through veRL's validation too. Every problem is collected, then raised at once.

    Raises:
        SpecError: one line per problem (``file:line: key: message``).
    """
    import typer

    from rmsweep.errors import SpecError
    from rmsweep.study import check_space, load_spec

    problems = []
    for path in specs:
        try:
            spec = load_spec(path, check_config=check_config)
            checked = check_space(spec) if check_config else None
        except SpecError as err:
            problems.append(str(err))
            continue
        searched = sum(e.searched for e in spec.space)
        verl = "" if checked is None else f", {checked.corners} corners pass veRL's validation"
        typer.echo(
            f"{path}: ok ({spec.name}: {searched} searched entries, {spec.n_trials} trials, "
            f"sampler {spec.sampler.name}, pruner {spec.pruner.name}{verl})"
        )
    if problems:
        raise SpecError("\n".join(problems))
