"""Sweep specs: every shipped spec validates; bad specs report every problem with its line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rmsweep.errors import SpecError
from rmsweep.study import Component, load_spec, parse_spec
from rmsweep.study._components import PRUNERS, SAMPLERS, build_pruner, build_sampler

REPO = Path(__file__).resolve().parents[2]
SWEEPS = sorted((REPO / "sweeps").rglob("*.yaml"))

GOOD = """\
name: demo
base: [device=cpu, trainer.total_steps=4]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exponential]
  reward.k: {type: float, low: 2.0, high: 8.0, log: true, when: {reward: exponential}}
  trainer.lr: {type: float, low: 1e-4, high: 1e-2, log: true}
  trainer.rollout_n: {type: int, low: 4, high: 8, step: 4}
  seed: 3
n_trials: 5
"""


def test_shipped_specs_are_found() -> None:
    names = {p.name for p in SWEEPS}
    assert {"quickstart.yaml", "helpsteer2_pointwise.yaml", "rmr1_pairwise.yaml"} <= names


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_shipped_spec_validates_against_the_configs(path: Path, workdir: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.n_trials >= 1 and any(entry.searched for entry in spec.space)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_shipped_spec_opens_with_a_purpose_and_its_command(path: Path) -> None:
    head = path.read_text().splitlines()[:12]
    assert head[0].startswith("# ")
    assert any(f"rmsweep study launch sweeps/{path.name}" in line for line in head)


def test_quickstart_is_the_cpu_shape_by_template_sweep(workdir: Path) -> None:
    spec = load_spec(REPO / "sweeps" / "quickstart.yaml")
    space = {entry.key: entry for entry in spec.space}
    assert "device=cpu" in spec.base and spec.n_trials >= 4
    assert set(space["reward"].choices) == {"linear", "exponential", "exact"}
    assert space["reward.k"].when == (("reward", ("exponential",)),)
    assert len(space["template"].choices) == 2 and space["template"].group


def test_a_good_spec_parses_into_entries(workdir: Path) -> None:
    spec = parse_spec(GOOD, source="demo.yaml")
    space = {entry.key: entry for entry in spec.space}
    assert space["reward"].group and space["reward"].kind == "categorical"
    assert not space["reward.k"].group and space["reward.k"].log
    # PyYAML reads 1e-4 as text; the spec means a number.
    assert space["trainer.lr"].low == pytest.approx(1e-4)
    assert (space["trainer.rollout_n"].low, space["trainer.rollout_n"].step) == (4, 4)
    assert space["seed"].kind == "fixed" and space["seed"].value == 3
    assert spec.sampler.name == "tpe" and spec.pruner.name == "none"
    assert spec.objectives[0].key("synthetic") == "val-core/synthetic/acc/mean_at_1"


BAD = """\
name: bad study
base: [device=cpu]
objective:
  - metric: acc
    direction: up
space:
  reward: [linear, cubic]
  reward.kk: {type: float, low: 1.0, high: 2.0}
  trainer.lr: {type: float, low: 1e-4, high: 1e-2, log: true, step: 0.1}
  template: {type: int, low: 1, high: 2}
  reward.k: {type: float, low: 1, high: 2, when: {reward.shape: exponential}}
  trainer.rollout_n: [4, many]
samplr: tpe
pruner: {name: medain}
n_trials: 0
"""

BAD_PROBLEMS = [
    (1, "name: 'bad study' must be"),
    (4, "objective[0].metric: 'acc' is not a metric name"),
    (5, "objective[0].direction: 'up' must be maximize or minimize"),
    (7, "space[reward]: 'cubic' is not an option of configs/reward/"),
    (8, "space[reward.kk]: no such key in the composed base config (did you mean 'k'?)"),
    (9, "space[trainer.lr]: step and log: true exclude each other"),
    (10, "space[template]: template is a config group"),
    (11, "space[reward.k].when: 'reward.shape' must be a categorical or fixed entry above"),
    (12, "space[trainer.rollout_n]: trainer.rollout_n=many does not compose"),
    (13, "samplr: unknown key (did you mean 'sampler'?)"),
    (14, "pruner: 'medain' is not one of none, median"),
    (15, "n_trials: 0 must be an integer >= 1"),
]


def test_a_bad_spec_reports_every_problem_with_its_line(workdir: Path) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(BAD, source="bad.yaml")
    lines = str(err.value).splitlines()
    assert lines[0] == f"bad.yaml: {len(BAD_PROBLEMS)} problems"
    assert len(lines) == len(BAD_PROBLEMS) + 1
    for (line, text), got in zip(BAD_PROBLEMS, lines[1:], strict=True):
        assert got.startswith(f"bad.yaml:{line}: "), got
        assert text in got, got


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nobjective: {metric: val/acc}\nspace:\n  reward: [a\n",
            r"x\.yaml:5: not valid YAML",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 2\nspace:\n"
            "  reward: [linear, exact]\n  reward.k: {type: float, low: 1.0, high: 2.0, "
            "when: {reward: exponential}}\n",
            r"x\.yaml:6: space\[reward\.k\]\.when\.reward: 'exponential' is not one of",
        ),
        (
            "name: x\nobjective: [{metric: val/acc}, {metric: train/response_length, "
            "direction: minimize}]\nn_trials: 2\npruner: median\nspace:\n  reward: [linear, exact]\n",
            r"x\.yaml:4: pruner: median cannot prune a study with 2 objectives",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 2\nsampler: grid\nspace:\n"
            "  trainer.lr: {type: float, low: 0.001, high: 0.01}\n",
            r"x\.yaml:6: space\[trainer\.lr\]: grid needs discrete entries",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 9\nsampler: grid\nspace:\n"
            "  reward: [linear, exact]\n  template: [pointwise_plain, pointwise_rubric]\n",
            r"x\.yaml:3: n_trials: 9 exceeds the grid's 4 points",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 2\nsampler: {name: tpe, foo: 1}\n"
            "space:\n  reward: [linear, exact]\n",
            r"x\.yaml:4: sampler\.foo: tpe takes no option 'foo'",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 2\nspace:\n  reward: [linear, exact]\n"
            "enqueue:\n  - {reward: cubic}\n",
            r"x\.yaml:7: enqueue\[0\]\.reward: 'cubic' is outside its choices",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 1\nspace:\n  reward: [linear, exact]\n"
            "enqueue: [{reward: linear}, {reward: exact}]\n",
            r"x\.yaml:6: enqueue: lists 2 trials but n_trials is 1",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 2\ntimeout: soon\n"
            "space:\n  reward: [linear, exact]\n",
            r"x\.yaml:4: timeout: 'soon' must be seconds or a duration",
        ),
        (
            "name: x\nobjective: {metric: val/acc}\nn_trials: 2\nspace:\n"
            "  template: [pairwise_verdict]\n",
            r"x\.yaml:5: space\[template\]: template=pairwise_verdict does not compose: "
            r"data\.task='pointwise' does not match",
        ),
    ],
)
def test_one_problem_one_line(text: str, message: str, workdir: Path) -> None:
    with pytest.raises(SpecError, match=message) as err:
        parse_spec(text, source="x.yaml")
    assert "\n" not in str(err.value)


# A space every sampler can search (grid needs discrete entries, cmaes a numeric one).
DISCRETE = """\
name: discrete
objective: {metric: val/acc}
space:
  reward: [linear, exact]
  trainer.rollout_n: {type: int, low: 4, high: 8, step: 4}
n_trials: 4
"""


def _example(kind: type | tuple[type, ...]) -> object:
    """A value of an option's type, as a spec would give it."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if str in kinds:  # an integer or 'auto'; Optuna refuses 'auto' with bootstrap_count > 0
        return 8
    return {bool: True, int: 2, float: 0.5}[kinds[-1]]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_in_the_table_passes_the_checks_and_builds(name: str) -> None:
    import optuna

    options = {option: _example(kind) for option, kind in SAMPLERS[name].items()}
    sampler_yaml = json.dumps({"name": name, **options})
    spec = parse_spec(DISCRETE + f"sampler: {sampler_yaml}\n", check_config=False)
    assert spec.sampler == Component(name, options)
    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        with pytest.raises(SpecError, match="sampler cmaes needs the `cmaes` package"):
            build_sampler(spec.sampler, spec.space, seed=0, source="s.yaml")
        return
    built = build_sampler(spec.sampler, spec.space, seed=0, source="s.yaml")
    assert isinstance(built, optuna.samplers.BaseSampler)


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_in_the_table_passes_the_checks_and_builds(name: str) -> None:
    import optuna

    options = {option: _example(kind) for option, kind in PRUNERS[name].items()}
    pruner_yaml = json.dumps({"name": name, **options})
    spec = parse_spec(DISCRETE + f"pruner: {pruner_yaml}\n", check_config=False)
    assert spec.pruner == Component(name, options)
    built = build_pruner(spec.pruner)
    assert isinstance(built, optuna.pruners.BasePruner)
    assert isinstance(built, optuna.pruners.NopPruner) == (name == "none")


def test_durations_and_defaults(workdir: Path) -> None:
    text = GOOD + "timeout: 20m\nparallel: 3\nretries: 2\nsampler: random\n"
    spec = parse_spec(text, source="d.yaml")
    assert spec.timeout_s == 1200 and spec.parallel == 3 and spec.retries == 2
    assert parse_spec(GOOD).parallel is None  # auto: derived from the cluster
