"""`rmsweep reward shapes|score`: thin commands over reward_fns."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reward_fns.pointwise import compute_score
from rmsweep.cli.reward import app
from rmsweep.errors import ConfigError

runner = CliRunner()


def test_shapes_prints_every_shape_by_error() -> None:
    result = runner.invoke(app, ["shapes", "--k", "4", "--scale-max", "4"])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert set(lines) == {"linear", "exponential", "gaussian", "exact"}
    assert "0.750" in lines["linear"] and "0.368" in lines["exponential"]  # exp(-4 * 1/4)
    assert "e=4" in result.output and "e=5" not in result.output


def test_score_prints_the_reward_dict() -> None:
    text = "<think>close</think><score>2</score>"
    args = ["score", "--truth", "3", "--shape", "exponential", "--k", "4", text]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == compute_score("cli", text, 3, shape="exponential", k=4.0)


def test_score_reads_stdin_and_scores_pairwise_verdicts() -> None:
    result = runner.invoke(
        app, ["score", "--truth", "B", "--mode", "binary", "-"], input="<answer>[[A]]</answer>"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["score"], out["acc"], out["pred_A"]) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--shape", "cubic"], "'shape' must be one of"),
        (["--sigma", "0"], "'sigma' must be > 0"),
    ],
)
def test_bad_options_are_config_errors(args: list[str], match: str) -> None:
    result = runner.invoke(app, ["score", "--truth", "3", *args, "<score>3</score>"])
    assert isinstance(result.exception, ConfigError)
    assert match in str(result.exception)


def test_bad_truth_is_a_config_error() -> None:
    result = runner.invoke(app, ["score", "--truth", "7", "<score>3</score>"])
    assert isinstance(result.exception, ConfigError)
    assert "ground_truth must be an integer score in [0, 4], got '7'" in str(result.exception)
