"""Study controller overhead and slot utilisation, against a plain Optuna loop in the same run.

Training is replaced by sleep jobs of uneven, seeded lengths (``rmsweep.testing``:
``SleepJobRunner``; each job logs its metric into its real MLflow run). Every row runs the
same trials on the same number of slots:

- **baseline**: ``study.optimize(objective, n_jobs=slots)``, the objective running the sleep
  job as a plain subprocess (no Ray, no MLflow);
- **platform**: ``launch_study`` with Optuna and MLflow in sqlite files and each trial a Ray
  job on a local Ray head (what ``rmsweep study launch`` does);
- **no-ray**: the same controller with jobs as local processes (``ProcessLauncher``), to
  separate the controller's own cost from Ray's job start and stop.

Per trial, overhead = (job's first statement − trial sampled) + (trial told − job's last
statement), from the job's own clock. Utilisation over the *steady* window (first to last
claim: trials remained to start) and over the *whole* study (to the last tell, the drain
included): **slots** = time slots held a trial (sampled → told) ÷ slot time, what the loop
without batch barriers delivers; **jobs** = time job processes ran ÷ slot time (overhead
excluded). A batch loop (``slots`` trials, wait for all) on the same lengths is shown too.

Run: .venv/bin/python benchmarks/controller_overhead.py [--trials 12] [--slots 4]
     [--min-s 45] [--max-s 135] [--poll 0.5] [--rows baseline,platform,no-ray]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SPEC = """\
name: overhead
base: [device=cpu]
objective: {{metric: val/acc, direction: maximize}}
space:
  trainer.lr: {{type: float, low: 1.0e-4, high: 1.0e-2, log: true}}
sampler: {{name: tpe, n_startup_trials: 4}}
n_trials: {trials}
parallel: {slots}
seed: 0
"""


@dataclass
class Timing:
    """One trial: when it was sampled and told, when its job started and ended (epoch s)."""

    sampled: float
    job_start: float
    job_end: float
    told: float

    @property
    def overhead(self) -> float:
        return (self.job_start - self.sampled) + (self.told - self.job_end)

    @property
    def before(self) -> float:
        return self.job_start - self.sampled

    @property
    def after(self) -> float:
        return self.told - self.job_end


def utilisation(
    intervals: list[tuple[float, float]], slots: int, start: float, end: float
) -> float:
    """Time inside [start, end] covered by the intervals ÷ (slots × (end − start))."""
    busy = sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)
    return busy / (slots * (end - start))


def batch_utilisation(durations: list[float], slots: int, overhead: float) -> float:
    """What a loop that waits for each batch of ``slots`` trials would reach."""
    makespan = 0.0
    for i in range(0, len(durations), slots):
        makespan += max(durations[i : i + slots]) + overhead
    return sum(durations) / (slots * makespan)


def run_platform(
    durations: list[float], slots: int, poll_s: float, tmp: Path, *, ray: bool
) -> list[Timing]:
    import contextlib

    import optuna
    from mlflow import MlflowClient

    from rmsweep.launch import RayLauncher
    from rmsweep.study import launch_study, parse_spec
    from rmsweep.testing import ProcessLauncher, SleepJobRunner, SleepPlan

    calls = iter(durations)

    def plan(params: dict[str, str]) -> SleepPlan:
        return SleepPlan({"val/acc": [float(params["trainer.lr"])]}, step_s=next(calls))

    spec = parse_spec(SPEC.format(trials=len(durations), slots=slots), source="benchmark")
    home = tmp / ("ray" if ray else "process")
    with contextlib.ExitStack() as stack:
        if ray:
            launcher = stack.enter_context(RayLauncher(None, workdir=home))
            warm = launcher.submit("true", env={})  # the head starts here, not in trial 0
            launcher.wait(warm, poll_s=0.2)
        else:
            launcher = stack.enter_context(ProcessLauncher(home / "jobs"))
        outcome = launch_study(
            spec,
            overrides=[f"workdir={home}"],
            storage=f"sqlite:///{home / 'optuna.db'}",
            runner=SleepJobRunner.factory(launcher=launcher, plan=plan),
            poll_s=poll_s,
            echo=lambda line: None,
        )
    at = {(e.trial, e.kind): e.at for e in outcome.events}
    client = MlflowClient(outcome.tracking_uri)
    timings = []
    study = optuna.load_study(study_name="overhead", storage=outcome.storage_url)
    for trial in study.trials:
        metrics = client.get_run(trial.user_attrs["mlflow_run_id"]).data.metrics
        timings.append(
            Timing(
                sampled=at[(trial.number, "claimed")],
                job_start=metrics["sleepjob/started_at"],
                job_end=metrics["sleepjob/ended_at"],
                told=at[(trial.number, "told")],
            )
        )
    return timings


def run_baseline(durations: list[float], slots: int, tmp: Path) -> list[Timing]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    found: dict[int, list[float]] = {}
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        sampled = time.time()
        lr = trial.suggest_float("trainer.lr", 1e-4, 1e-2, log=True)
        command = [
            sys.executable, "-m", "rmsweep.testing._sleep_job", "--no-mlflow",
            "--step-s", str(durations[trial.number]), "--metric", f"val/acc={lr}",
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        fields = dict(part.split("=") for part in out.split())
        with lock:
            found[trial.number] = [sampled, float(fields["started_at"]), float(fields["ended_at"])]
        return lr

    def told(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        with lock:
            found[trial.number].append(time.time())

    study = optuna.create_study(
        storage=f"sqlite:///{tmp / 'baseline.db'}",
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4, constant_liar=True),
    )
    study.optimize(objective, n_trials=len(durations), n_jobs=slots, callbacks=[told])
    return [Timing(*found[n]) for n in sorted(found)]


def report(name: str, timings: list[Timing], slots: int) -> dict[str, float]:
    first = min(t.sampled for t in timings)
    last_claim = max(t.sampled for t in timings)
    last_told = max(t.told for t in timings)
    held = [(t.sampled, t.told) for t in timings]
    jobs = [(t.job_start, t.job_end) for t in timings]
    figures = {
        "overhead": statistics.mean(t.overhead for t in timings),
        "before": statistics.mean(t.before for t in timings),
        "after": statistics.mean(t.after for t in timings),
        "p90": sorted(t.overhead for t in timings)[int(0.9 * (len(timings) - 1))],
        "slots_steady": utilisation(held, slots, first, last_claim),
        "slots_whole": utilisation(held, slots, first, last_told),
        "jobs_steady": utilisation(jobs, slots, first, last_claim),
        "jobs_whole": utilisation(jobs, slots, first, last_told),
    }
    print(
        f"{name:9s} overhead/trial {figures['overhead']:6.3f} s "
        f"(sample→job running {figures['before']:.3f}, job end→told {figures['after']:.3f}, "
        f"p90 {figures['p90']:.3f}) | utilisation steady: slots {figures['slots_steady']:.3f} "
        f"jobs {figures['jobs_steady']:.3f}; whole: slots {figures['slots_whole']:.3f} "
        f"jobs {figures['jobs_whole']:.3f}",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--min-s", type=float, default=45.0, help="shortest trial (job) length")
    parser.add_argument("--max-s", type=float, default=135.0, help="longest trial (job) length")
    parser.add_argument("--poll", type=float, default=0.5, help="controller poll interval (s)")
    parser.add_argument("--rows", default="baseline,platform,no-ray")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = args.rows.split(",")
    rng = random.Random(args.seed)
    durations = [round(rng.uniform(args.min_s, args.max_s), 2) for _ in range(args.trials)]
    print(
        f"{args.trials} trials of {args.min_s:g}-{args.max_s:g} s (mean "
        f"{statistics.mean(durations):.1f} s) on {args.slots} slots; poll {args.poll} s",
        flush=True,
    )
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="rmsweep-bench-") as tmp:
        for row in rows:
            if row == "baseline":
                timings = run_baseline(durations, args.slots, Path(tmp))
            else:
                ray = row == "platform"
                timings = run_platform(durations, args.slots, args.poll, Path(tmp), ray=ray)
            figures[row] = report(row, timings, args.slots)
    if "baseline" in figures and "platform" in figures:
        base, plat = figures["baseline"], figures["platform"]
        print(
            f"platform overhead: {plat['overhead']:.3f} s/trial = "
            f"{plat['overhead'] / max(base['overhead'], 1e-9):.1f}x the plain Optuna loop's "
            f"{base['overhead']:.3f} s"
            + (
                f"; the controller without Ray: {figures['no-ray']['overhead']:.3f} s"
                if "no-ray" in figures
                else ""
            )
        )
    if "platform" in figures:
        plat = figures["platform"]
        batch = batch_utilisation(durations, args.slots, plat["overhead"])
        print(
            f"platform slot utilisation (steady, 4 slots, uneven lengths): "
            f"{plat['slots_steady']:.3f} (target >= 0.97); job time: {plat['jobs_steady']:.3f}; "
            f"a batch-barrier loop on these lengths: {batch:.3f}"
        )


if __name__ == "__main__":
    main()
