"""Chaos: N worker controllers × M trials, K random SIGKILLs of controllers and of jobs,
then `rmsweep study resume`; do the two records agree, was anything lost or run twice?

Each worker is `rmsweep study launch SPEC --worker --runner sleep-local` (trials are sleep
jobs as local processes, ``rmsweep.testing``); kills happen when the study's finished-trial
count crosses random thresholds. A killed controller is not restarted: the live workers
adopt its trials (same host: at once), and a final `study resume` finishes what is left.
Run on SQLite, and on PostgreSQL when a server answers on 127.0.0.1:5432 (else skipped,
saying so). Printed per storage:

- complete: COMPLETE trials (the budget is M); lost: M − complete;
- duplicated: runs whose job ran more than once, plus trials whose params another COMPLETE
  trial also trained (reuse is off here, to count them);
- disagree (doctor): the doctor's disagreements before the resume and after it;
- adopted: trials another controller took over; jobs left: jobs still running at the end.

Run: .venv/bin/python benchmarks/chaos.py [--workers 8] [--trials 200] [--kills 4]
     [--job-kills 4] [--steps 3] [--step-s 0.02] [--seed 0] [--storage sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLI = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study"]
SPEC = """\
name: chaos
base: [device=cpu, trainer.total_steps={steps}]
objective: {{metric: val/acc, direction: maximize}}
space:
  trainer.lr: {{type: float, low: 1.0e-6, high: 1.0e-1, log: true}}
sampler: {{name: random}}
n_trials: {trials}
parallel: 1
retries: 5
reuse: false
"""


@dataclass
class Row:
    storage: str
    complete: int = 0
    lost: int = 0
    duplicated: int = 0
    disagree_before: int = 0
    disagree_after: int = 0
    adopted: int = 0
    jobs_left: int = 0
    controller_kills: int = 0
    job_kills: int = 0
    wall_s: float = 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--kills", type=int, default=4, help="controller SIGKILLs")
    parser.add_argument("--job-kills", type=int, default=4, help="job SIGKILLs")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--step-s", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for kind in args.storage.split(","):
        with storage_url(kind) as url:
            if url is None:
                print(f"{kind}: skipped (no PostgreSQL server answers on 127.0.0.1:5432)")
                continue
            print(f"{kind}: {args.workers} workers × {args.trials} trials …", flush=True)
            rows.append(run_chaos(kind, url, args))
    print_table(rows, args)


@contextlib.contextmanager
def storage_url(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield "sqlite"  # resolved per run, inside its temporary home
        return
    try:
        import psycopg2
    except ImportError:
        yield None
        return
    name = f"rmsweep_chaos_{os.getpid()}"
    try:
        admin = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError:
        yield None
        return
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def run_chaos(kind: str, url: str, args: argparse.Namespace) -> Row:
    import optuna
    from optuna.trial import TrialState

    from rmsweep.study._storage import open_storage, quiet

    quiet()
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix=f"chaos-{kind}-"))
    if url == "sqlite":
        url = f"sqlite:///{home / 'optuna.db'}"
    spec = home / "chaos.yaml"
    spec.write_text(SPEC.format(steps=args.steps, trials=args.trials))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home), RMSWEEP_STORAGE=url, RMSWEEP_SLEEP_STEP_S=str(args.step_s))
    row = Row(kind)
    start = time.monotonic()
    log = open(home / "workers.log", "w")  # noqa: SIM115 - closed below
    workers = [
        subprocess.Popen(
            [*CLI, "launch", str(spec), "--worker", "--runner", "sleep-local"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(args.workers)
    ]
    events = sorted(
        [(rng.uniform(0.05, 0.8), "controller") for _ in range(args.kills)]
        + [(rng.uniform(0.05, 0.9), "job") for _ in range(args.job_kills)]
    )
    storage = open_storage(url)
    try:
        watch(workers, storage, events, row, home, rng, args)
    finally:
        for worker in workers:  # a crashed benchmark leaves no controller behind
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    log.close()
    study = optuna.load_study(study_name="chaos", storage=storage)
    row.disagree_before = disagreements(study)
    resume = subprocess.run(
        [*CLI, "resume", "chaos", "--runner", "sleep-local", "--parallel", str(args.workers)],
        env=env,
        capture_output=True,
        text=True,
    )
    if resume.returncode != 0:
        print(resume.stdout[-2000:], resume.stderr[-2000:], file=sys.stderr)
    row.wall_s = time.monotonic() - start
    study = optuna.load_study(study_name="chaos", storage=storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    row.complete, row.lost = len(complete), args.trials - len(complete)
    params = Counter(tuple(sorted(t.params.items())) for t in complete)
    row.duplicated = sum(n - 1 for n in params.values()) + twice_run_jobs(home / "sleepjobs")
    row.disagree_after = disagreements(study)
    row.adopted = sum("rmsweep.adopted_from" in t.user_attrs for t in trials)
    row.jobs_left = running_jobs(home / "sleepjobs")
    return row


def watch(
    workers: list[subprocess.Popen[bytes]],
    storage: object,
    events: list[tuple[float, str]],
    row: Row,
    home: Path,
    rng: random.Random,
    args: argparse.Namespace,
) -> None:
    """Kill as planned while workers live: each event fires once that share of trials ended."""
    while any(w.poll() is None for w in workers):
        done = finished(storage)
        while events and done >= events[0][0] * args.trials:
            _, what = events.pop(0)
            if what == "controller":
                row.controller_kills += kill_controller(workers, rng)
            else:
                row.job_kills += kill_job(home / "sleepjobs", rng)
        time.sleep(0.2)  # a benchmark's sampling interval, not a synchronisation


def finished(storage: object) -> int:
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    try:  # the study may not exist yet (its workers are starting)
        study_id = storage.get_study_id_from_name("chaos")  # type: ignore[attr-defined]
        return len(storage.get_all_trials(study_id, deepcopy=False, states=states))  # type: ignore[attr-defined]
    except Exception:
        return 0


def kill_controller(workers: list[subprocess.Popen[bytes]], rng: random.Random) -> int:
    live = [w for w in workers if w.poll() is None]
    if not live:
        return 0
    rng.choice(live).send_signal(signal.SIGKILL)
    return 1


def kill_job(folder: Path, rng: random.Random) -> int:
    """SIGKILL the sleep job (not its wrapper, which records the exit) of a running job."""
    import psutil

    from rmsweep import names
    from rmsweep.testing import ProcessLauncher

    jobs = ProcessLauncher(folder)
    running = [j for j in jobs.job_ids() if jobs.status(j) == names.JOB_RUNNING]
    rng.shuffle(running)
    for job_id in running:
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(jobs.pid(job_id)).children()
            if children:
                children[0].kill()
                return 1
    return 0


def twice_run_jobs(folder: Path) -> int:
    from rmsweep.testing import ProcessLauncher

    jobs = ProcessLauncher(folder)
    runs = Counter(jobs._record(j)["run_id"] for j in jobs.job_ids())
    return sum(n - 1 for n in runs.values())


def running_jobs(folder: Path) -> int:
    from rmsweep import names
    from rmsweep.testing import ProcessLauncher

    jobs = ProcessLauncher(folder)
    return sum(jobs.status(j) == names.JOB_RUNNING for j in jobs.job_ids())


def disagreements(study: object) -> int:
    from rmsweep import names
    from rmsweep.study._doctor import compare
    from rmsweep.tracking import tracking_client

    attrs = study.user_attrs  # type: ignore[attr-defined]
    client = tracking_client(attrs[names.STUDY_TRACKING_URI])
    return len(compare(study, client, experiment_id=attrs[names.STUDY_EXPERIMENT_ID]))  # type: ignore[arg-type]


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"\nchaos: {args.workers} workers × {args.trials} trials, {args.kills} controller and "
        f"{args.job_kills} job SIGKILLs, jobs of {args.steps} × {args.step_s}s"
    )
    head = (
        "storage",
        "complete",
        "lost",
        "duplicated",
        "disagree before→after resume",
        "adopted",
        "jobs left",
        "kills (ctl/job)",
        "wall",
    )
    print(" | ".join(head))
    for r in rows:
        print(
            " | ".join(
                [
                    r.storage,
                    f"{r.complete}/{args.trials}",
                    str(r.lost),
                    str(r.duplicated),
                    f"{r.disagree_before}→{r.disagree_after}",
                    str(r.adopted),
                    str(r.jobs_left),
                    f"{r.controller_kills}/{r.job_kills}",
                    f"{r.wall_s:.0f}s",
                ]
            )
        )


if __name__ == "__main__":
    main()
