"""Workers in separate processes share one trial budget, on sqlite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from conftest import postgres_databases
from optuna.trial import TrialState

from rmsweep.study._storage import claim_trial, open_storage


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
    else:
        for (url,) in postgres_databases(1):
            yield url.replace("postgresql://", "postgresql+psycopg2://")


def _claim_until_spent(url: str, name: str, n_trials: int, queue: multiprocessing.Queue) -> None:
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    mine = []
    while (trial := claim_trial(study, n_trials, url)) is not None:
        mine.append(trial.number)
        study.tell(trial, float(trial.number))
    queue.put(mine)


def test_workers_claim_exactly_n_trials_between_them(storage_url: str) -> None:
    name = f"shared-{uuid.uuid4().hex[:6]}"
    optuna.create_study(storage=open_storage(storage_url), study_name=name)
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
