"""`rmsweep reward …` commands: look at the reward shapes, score one output."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from rmsweep.errors import ConfigError

app = typer.Typer(
    help="Inspect reward shapes and score one judge output by hand.", no_args_is_help=True
)


@app.command()
def shapes(
    k: float = typer.Option(2.0, help="exponential steepness"),
    sigma: float = typer.Option(1.0, help="gaussian width, in score units"),
    scale_min: int = typer.Option(0, help="lowest score"),
    scale_max: int = typer.Option(4, help="highest score"),
) -> None:
    """Print the reward for each error |pred - truth|, one row per shape."""
    from rich.console import Console
    from rich.table import Table

    from reward_fns.shapes import SHAPES, shape_reward

    try:
        rows = [
            [
                shape_reward(
                    e, shape=shape, k=k, sigma=sigma, scale_min=scale_min, scale_max=scale_max
                )
                for e in range(scale_max - scale_min + 1)
            ]
            for shape in SHAPES
        ]
    except ValueError as err:
        raise ConfigError(str(err)) from None
    table = Table(
        title=f"reward by error (k={k:g}, sigma={sigma:g}, scale {scale_min}-{scale_max})"
    )
    table.add_column("shape")
    for error in range(len(rows[0])):
        table.add_column(f"e={error}", justify="right")
    for shape, values in zip(SHAPES, rows, strict=True):
        table.add_row(shape, *(f"{v:.3f}" for v in values))
    Console().print(table)


@app.command()
def score(
    text: str = typer.Argument("-", help="the model output; - (the default) reads stdin"),
    truth: str = typer.Option(..., help="the true score, or A/B for a pairwise verdict"),
    shape: str = typer.Option("exact", help="linear | exponential | gaussian | exact"),
    k: float = typer.Option(2.0, help="exponential steepness"),
    sigma: float = typer.Option(1.0, help="gaussian width, in score units"),
    scale_min: int = typer.Option(0, help="lowest score"),
    scale_max: int = typer.Option(4, help="highest score"),
    format_penalty: float | None = typer.Option(None, help="reward when unparseable"),
    mode: str = typer.Option("signed", help="pairwise: signed (±1) | binary (1/0)"),
) -> None:
    """Parse and score one output as veRL would; print the reward dict as JSON."""
    from reward_fns import pairwise, pointwise

    if text == "-":
        text = sys.stdin.read()
    kwargs: dict[str, Any] = {}
    if format_penalty is not None:
        kwargs["format_penalty"] = format_penalty
    if truth.strip().upper() in ("A", "B"):
        fn, kwargs = pairwise.compute_score, {**kwargs, "mode": mode}
    else:
        fn = pointwise.compute_score
        params = {"k": k, "sigma": sigma, "scale_min": scale_min, "scale_max": scale_max}
        kwargs.update(shape=shape, **params)
    try:
        result = fn("cli", text, truth, **kwargs)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    typer.echo(json.dumps(result))
