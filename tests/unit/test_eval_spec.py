"""Benchmark evaluation in study specs: the ``eval:`` key and ``eval/…`` objectives."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmsweep.errors import SpecError
from rmsweep.study import load_spec, parse_spec
from rmsweep.study._base import compose_base

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "benchmarks"

SPEC = """\
name: evals
base: [device=cpu]
objective: {metric: eval/rmbench/avg, direction: maximize}
eval: {rmbench: bench/rmbench, limit: 5}
space:
  reward: [linear, exact]
n_trials: 2
"""


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "rmbench").symlink_to(FIXTURES / "rmbench")
    return tmp_path


def test_eval_paths_are_relative_to_the_spec_and_become_overrides(
    spec_dir: Path, workdir: Path
) -> None:
    (spec_dir / "s.yaml").write_text(SPEC)
    spec = load_spec(spec_dir / "s.yaml")
    assert f"eval.rmbench={(spec_dir / 'bench' / 'rmbench').resolve()}" in spec.base
    assert "eval.limit=5" in spec.base
    cfg = compose_base(spec.base, spec)
    assert cfg.eval.rmbench == str((spec_dir / "bench" / "rmbench").resolve())
    assert cfg.eval.limit == 5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            "eval: {rmbench: nowhere}",
            r"s\.yaml:4: eval\.rmbench: no such file or folder: .*nowhere",
        ),
        ("eval: {rmbench: bench/rmbench, limt: 5}", r"s\.yaml:4: eval\.limt: unknown key.*limit"),
        ("eval: {rmbench: bench/rmbench, limit: 0}", r"eval\.limit: 0 must be an integer >= 1"),
        ("eval: [rmbench]", r"s\.yaml:4: eval: must be a mapping"),
    ],
)
def test_bad_eval_entries_name_the_line_and_key(
    spec_dir: Path, workdir: Path, edit: str, message: str
) -> None:
    (spec_dir / "s.yaml").write_text(SPEC.replace("eval: {rmbench: bench/rmbench, limit: 5}", edit))
    with pytest.raises(SpecError, match=message):
        load_spec(spec_dir / "s.yaml", check_config=False)


def test_an_eval_objective_names_a_known_benchmark(workdir: Path) -> None:
    text = SPEC.replace("eval/rmbench/avg", "eval/mtbench/avg").replace(
        "eval: {rmbench: bench/rmbench, limit: 5}\n", ""
    )
    with pytest.raises(SpecError, match=r"eval/mtbench/avg.*rewardbench, rmbench, rmb"):
        parse_spec(text, check_config=False)


def test_an_eval_objective_cannot_drive_a_pruner(spec_dir: Path) -> None:
    text = SPEC + "pruner: {name: median}\n"
    with pytest.raises(SpecError, match=r"pruner: eval/rmbench/avg is measured once"):
        parse_spec(text, check_config=False, base_dir=spec_dir)


def test_an_eval_objective_without_its_files_fails_at_launch(workdir: Path) -> None:
    text = SPEC.replace("eval: {rmbench: bench/rmbench, limit: 5}\n", "")
    spec = parse_spec(text, source="s.yaml", check_config=False)
    with pytest.raises(SpecError, match=r"objective eval/rmbench/avg needs the rmbench files"):
        compose_base(spec.base, spec)
    cfg = compose_base([*spec.base, f"eval.rmbench={FIXTURES / 'rmbench'}"], spec)
    assert cfg.eval.rmbench == str(FIXTURES / "rmbench")


def test_the_quickstart_evaluates_every_trial_on_the_synthetic_benchmark(workdir: Path) -> None:
    spec = load_spec(REPO / "sweeps" / "quickstart.yaml")
    assert f"eval.rmbench={REPO / 'evalsets' / 'synthetic-rmbench'}" in spec.base
