"""GPU slots are honest, on a real local Ray head that advertises 4 logical GPUs.

``parallel: auto`` runs ⌊free GPUs ÷ GPUs per trial⌋ trials at once, so none waits on
another's placement group, and a trial whose GPUs cannot be placed fails with the reason
instead of hanging. The trials are ``rmsweep.testing.GpuJobRunner`` sleep jobs that hold their
GPUs in a placement group the way veRL's workers do. The arithmetic alone:
tests/unit/test_gpu_slots.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.launch import RayLauncher
from rmsweep.study import launch_study, parse_spec
from rmsweep.study._runner import VerlTrialRunner
from rmsweep.testing import GpuJobRunner, SleepPlan
from rmsweep.testing._gpu import PLACED_AT_METRIC, PLACEMENT_WAIT_METRIC
from rmsweep.testing._sleep_job import ENDED_METRIC

GPUS = 4
STEPS, STEP_S = 20, 0.5  # each trial holds its GPUs for 10 s
STUDY_TIMEOUT_S = 300.0


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayLauncher]:
    # 8 logical CPUs: every GPU bundle takes one CPU as well, as veRL's do.
    with RayLauncher(
        None, workdir=tmp_path_factory.mktemp("ray"), num_cpus=8, num_gpus=GPUS
    ) as ray:
        yield ray


def spec(name: str, n_trials: int) -> str:
    # No `parallel`: the slots are derived from the cluster (`parallel: auto`).
    return f"""\
name: {name}
base: [device=cpu]
objective: {{metric: val/acc, direction: maximize}}
space:
  trainer.lr: {{type: float, low: 1.0e-4, high: 3.0e-3, log: true}}
n_trials: {n_trials}
"""


def plan(params: dict[str, str]) -> SleepPlan:
    return SleepPlan({"val/acc": [0.1 * i for i in range(STEPS)]}, step_s=STEP_S)


def run_study(
    workdir: Path, launcher: RayLauncher, name: str, n_trials: int, gpus_per_trial: int
) -> tuple[optuna.Study, list[str], str]:
    """Launch the study in a thread and fail, rather than hang, when it does not end."""
    lines: list[str] = []
    outcome: list[object] = []
    failure: list[BaseException] = []

    def launch() -> None:
        try:
            outcome.append(
                launch_study(
                    parse_spec(spec(name, n_trials), source=f"{name}.yaml"),
                    storage=f"sqlite:///{workdir / 'optuna.db'}",
                    runner=GpuJobRunner.factory(
                        launcher=launcher,
                        plan=plan,
                        gpus_per_trial=gpus_per_trial,
                        placement_timeout_s=10.0,
                    ),
                    poll_s=0.2,
                    echo=lines.append,
                )
            )
        except BaseException as err:  # re-raised in the test's thread
            failure.append(err)

    thread = threading.Thread(target=launch, daemon=True)
    thread.start()
    thread.join(STUDY_TIMEOUT_S)
    assert not thread.is_alive(), f"study {name} still running after {STUDY_TIMEOUT_S}s: {lines}"
    if failure:
        raise failure[0]
    tracking_uri = outcome[0].tracking_uri  # type: ignore[attr-defined]
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{workdir / 'optuna.db'}")
    return study, lines, tracking_uri


@pytest.mark.parametrize(("gpus_per_trial", "slots"), [(2, 2), (3, 1), (4, 1), (5, 0)])
def test_free_slots_are_free_gpus_over_gpus_per_trial(
    workdir: Path, launcher: RayLauncher, gpus_per_trial: int, slots: int
) -> None:
    # Production's runner, asking the cluster through its probe job.
    runner = VerlTrialRunner(
        ["device=gpu", f"device.gpus_per_node={gpus_per_trial}"], launcher=launcher
    )
    assert runner.free_slots() == slots


def test_parallel_auto_runs_as_many_trials_as_fit_and_none_waits(
    workdir: Path, launcher: RayLauncher
) -> None:
    study, lines, tracking_uri = run_study(workdir, launcher, "two", 4, gpus_per_trial=2)
    assert "study two: 2 slot(s)" in lines
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4, lines
    client = MlflowClient(tracking_uri)
    held = []
    for trial in study.trials:
        metrics = client.get_run(trial.user_attrs[names.ATTR_RUN_ID]).data.metrics
        # A trial queued behind another's placement group would wait most of STEPS * STEP_S.
        assert metrics[PLACEMENT_WAIT_METRIC] < STEPS * STEP_S / 2, (trial.number, metrics)
        held.append((metrics[PLACED_AT_METRIC], metrics[ENDED_METRIC]))
    assert peak_overlap(held) == 2  # both slots were used at once (and Ray allows no more)


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, step in events:  # at a tie the end (-1) sorts first: touching is not overlapping
        running += step
        peak = max(peak, running)
    return peak


def test_a_trial_that_cannot_be_placed_fails_with_the_reason(
    workdir: Path, launcher: RayLauncher
) -> None:
    study, lines, tracking_uri = run_study(workdir, launcher, "five", 1, gpus_per_trial=5)
    assert "study five: 1 slot(s)" in lines  # none fits; the one that runs says why
    (trial,) = study.trials
    assert trial.state == TrialState.FAIL
    reason = trial.user_attrs[names.ATTR_REASON]
    never = "needs 5 GPUs on one node; the cluster has 0 such nodes (the largest has 4 GPUs)"
    assert never in reason
    assert "\n" not in reason
    run = MlflowClient(tracking_uri).get_run(trial.user_attrs[names.ATTR_RUN_ID])
    assert run.info.status == "FAILED"
    assert never in run.data.tags[names.TAG_REASON]
