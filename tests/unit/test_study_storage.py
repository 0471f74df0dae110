"""Optuna side of a study: the shared trial budget, retries, stale trials, storages."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from conftest import postgres_databases
from optuna.trial import TrialState

from rmsweep.study import _optuna as O


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
    else:
        for (url,) in postgres_databases(1):
            yield url.replace("postgresql://", "postgresql+psycopg2://")


def _trial(state: TrialState, **attrs: object) -> optuna.trial.FrozenTrial:
    values = [1.0] if state == TrialState.COMPLETE else None
    return optuna.trial.create_trial(state=state, values=values, user_attrs=attrs)


def test_budget_counts_finished_running_waiting_and_final_failures() -> None:
    study = optuna.create_study()
    for trial in [
        _trial(TrialState.COMPLETE),
        _trial(TrialState.PRUNED),
        _trial(TrialState.FAIL, **{O.ATTR_STATE: "failed"}),  # 2: retried by 5 below
        _trial(TrialState.FAIL, **{O.ATTR_STATE: "failed"}),  # 3: out of retries: counts
        _trial(TrialState.FAIL, **{O.ATTR_STATE: "killed"}),  # 4: Ctrl-C: runs again
        _trial(TrialState.WAITING, **{O.ATTR_RETRY_OF: 2}),
    ]:
        study.add_trial(trial)
    assert O.budget_used(study.get_trials(deepcopy=False)) == 4  # 0, 1, 3 and 5
    assert study.ask().number == 5  # the queued re-run starts: still counted once
    study.ask()  # 6: a new trial
    assert O.budget_used(study.get_trials(deepcopy=False)) == 5


def test_claim_stops_at_the_budget_and_pops_queued_trials_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=O.open_storage(url), study_name="s")
    first = O.claim_trial(study, 2, url)
    assert first is not None
    first.suggest_float("x", 0, 1)
    frozen = study.tell(first, state=TrialState.FAIL)
    O.requeue(study, frozen, reason="job failed")
    again = O.claim_trial(study, 2, url)
    assert again is not None and again.params == frozen.params  # the same config, re-run
    assert again.user_attrs[O.ATTR_RETRY_OF] == 0 and again.user_attrs[O.ATTR_ATTEMPT] == 2
    study.tell(again, 0.5)
    second = O.claim_trial(study, 2, url)
    assert second is not None
    study.tell(second, 0.1)
    assert O.claim_trial(study, 2, url) is None
    assert len(study.trials) == 3


def _claim_until_spent(url: str, name: str, n_trials: int, queue: multiprocessing.Queue) -> None:
    study = optuna.load_study(study_name=name, storage=O.open_storage(url))
    mine = []
    while (trial := O.claim_trial(study, n_trials, url)) is not None:
        mine.append(trial.number)
        study.tell(trial, float(trial.number))
    queue.put(mine)


def test_workers_claim_exactly_n_trials_between_them(storage_url: str) -> None:
    name = f"shared-{uuid.uuid4().hex[:6]}"
    optuna.create_study(storage=O.open_storage(storage_url), study_name=name)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_claim_until_spent, args=(storage_url, name, 12, queue))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    claimed = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    numbers = sorted(n for mine in claimed for n in mine)
    assert numbers == list(range(12))  # none twice, none past the budget
    study = optuna.load_study(study_name=name, storage=storage_url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 12


def test_a_stale_trial_is_failed_and_queued_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = O.open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s")
    lost = O.claim_trial(study, 3, url)
    assert lost is not None
    lost.suggest_categorical("reward", ["linear", "exact"])
    storage_id = storage.get_study_id_from_name("s")
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage_id, lost.number)
    storage.record_heartbeat(trial_id)
    # Its controller died long ago: move the last heartbeat back past the grace period.
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, '-1 hour') "
                "WHERE trial_id = :t"
            ),
            {"t": trial_id},
        )
    engine.dispose()
    rerun = O.claim_trial(study, 3, url)
    assert rerun is not None
    assert study.trials[lost.number].state == TrialState.FAIL
    assert rerun.params == study.trials[lost.number].params
    assert rerun.user_attrs[O.ATTR_RETRY_OF] == lost.number


def test_a_bad_storage_url_fails_in_one_line() -> None:
    from rmsweep.errors import SpecError

    with pytest.raises(SpecError, match=r"optuna storage nosuchdb://x"):
        O.open_storage("nosuchdb://x")


def test_the_url_shown_hides_the_password() -> None:
    assert O.redact("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
