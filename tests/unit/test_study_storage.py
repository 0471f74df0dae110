"""Optuna side of a study: the shared trial budget, retries, stale trials, storages."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from rmsweep import names
from rmsweep.study._storage import budget_used, claim_trial, hide_password, open_storage, requeue


def _trial(state: TrialState, **attrs: object) -> optuna.trial.FrozenTrial:
    values = [1.0] if state == TrialState.COMPLETE else None
    return optuna.trial.create_trial(state=state, values=values, user_attrs=attrs)


def test_budget_counts_finished_running_waiting_and_final_failures() -> None:
    study = optuna.create_study()
    for trial in [
        _trial(TrialState.COMPLETE),
        _trial(TrialState.PRUNED),
        _trial(TrialState.FAIL, **{names.ATTR_STATE: "failed"}),  # 2: retried by 5 below
        _trial(TrialState.FAIL, **{names.ATTR_STATE: "failed"}),  # 3: out of retries: counts
        _trial(TrialState.FAIL, **{names.ATTR_STATE: "killed"}),  # 4: Ctrl-C: runs again
        _trial(TrialState.WAITING, **{names.ATTR_RETRY_OF: 2}),
    ]:
        study.add_trial(trial)
    assert budget_used(study.get_trials(deepcopy=False)) == 4  # 0, 1, 3 and 5
    assert study.ask().number == 5  # the queued re-run starts: still counted once
    study.ask()  # 6: a new trial
    assert budget_used(study.get_trials(deepcopy=False)) == 5


def test_claim_stops_at_the_budget_and_pops_queued_trials_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    first = claim_trial(study, 2, url)
    assert first is not None
    first.suggest_float("x", 0, 1)
    frozen = study.tell(first, state=TrialState.FAIL)
    requeue(study, frozen, reason="job failed")
    again = claim_trial(study, 2, url)
    assert again is not None and again.params == frozen.params  # the same config, re-run
    assert again.user_attrs[names.ATTR_RETRY_OF] == 0 and again.user_attrs[names.ATTR_ATTEMPT] == 2
    study.tell(again, 0.5)
    second = claim_trial(study, 2, url)
    assert second is not None
    study.tell(second, 0.1)
    assert claim_trial(study, 2, url) is None
    assert len(study.trials) == 3


def test_a_stale_trial_is_failed_and_queued_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="s")
    lost = claim_trial(study, 3, url)
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
    rerun = claim_trial(study, 3, url)
    assert rerun is not None
    assert study.trials[lost.number].state == TrialState.FAIL
    assert rerun.params == study.trials[lost.number].params
    assert rerun.user_attrs[names.ATTR_RETRY_OF] == lost.number


def test_a_bad_storage_url_is_a_storage_error_that_names_it_and_the_way_out() -> None:
    from rmsweep.errors import SpecError, StorageError

    with pytest.raises(StorageError, match=r"optuna storage nosuchdb://x: .*--storage") as err:
        open_storage("nosuchdb://x")
    assert not isinstance(err.value, SpecError) and "\n" not in str(err.value)


def test_the_url_shown_hides_the_password() -> None:
    assert hide_password("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
