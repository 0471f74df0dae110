"""Two processes getting-or-creating the same experiments on a fresh sqlite store at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from rmsweep.tracking import ensure_experiment, tracking_client

NAMES = ("sweep-a", "sweep-b", "sweep-c")


def _worker(uri: str, root: str, barrier, results) -> None:
    try:
        barrier.wait()  # both open the fresh store together: the schema is created once
        client = tracking_client(uri)
        barrier.wait()  # then both get-or-create the same experiments together
        results.put(("ok", [ensure_experiment(client, n, Path(root)) for n in NAMES]))
    except BaseException as err:  # report, so the test fails with the reason
        results.put(("error", f"{type(err).__name__}: {err}"))


def test_two_processes_create_each_experiment_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(uri, str(tmp_path / "art"), barrier, results))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
    assert outcomes[0][1] == outcomes[1][1]
    client = tracking_client(uri)
    found = [e.name for e in client.search_experiments() if e.name in NAMES]
    assert sorted(found) == sorted(NAMES)
