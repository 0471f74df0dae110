"""The job ``SleepJobRunner`` submits: sleep per step and log metrics the way veRL does.

Stands in for a training job only to measure and test the study controller. Run as a
process (``ProcessLauncher``, ``RayLauncher``), it attaches to ``$MLFLOW_RUN_ID`` with the
fluent API like veRL, logs ``mlflow.log_metrics(…, step=…)`` after each step and ends the
run. Run as a thread (``ThreadLauncher``, :func:`run_in_thread`), it does the same through an
``MlflowClient`` and returns as soon as it is stopped. It also logs when it started and ended
(``sleepjob/started_at``, ``sleepjob/ended_at``, epoch seconds) and, as a process, its pid
(tag ``sleepjob.pid``), for the overhead benchmark and the Ctrl-C test.

    python -m rmsweep.testing._sleep_job --step-s 0.5 --metric KEY=0.1,0.2,0.3 [--exit-code 1]
        [--tail-s 2]
"""

from __future__ import annotations

import time

STARTED_AT = time.time()  # first thing: the job's own start, before any import

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

MODULE = "rmsweep.testing._sleep_job"
STARTED_METRIC = "sleepjob/started_at"
ENDED_METRIC = "sleepjob/ended_at"
PID_TAG = "sleepjob.pid"

# Gates a thread job waits on before its first step (``--gate NAME``): a test opens one
# when the event it orders the job after has happened. Only threads share them.
_GATES: dict[str, threading.Event] = {}
_GATES_LOCK = threading.Lock()


def register_gate(gate: threading.Event) -> str:
    """A name for ``gate`` that a thread job's ``--gate`` argument refers to."""
    name = f"gate-{id(gate)}"
    with _GATES_LOCK:
        _GATES[name] = gate
    return name


@dataclass
class SleepJob:
    """One job's arguments: ``curves[key][i]`` is logged at step ``i``."""

    curves: dict[str, list[float]]
    step_s: float = 0.5
    exit_code: int = 0
    tail_s: float = 0.0
    gate: str | None = None
    no_mlflow: bool = False
    gate_file: str | None = None

    @property
    def steps(self) -> int:
        return max((len(v) for v in self.curves.values()), default=0)

    def metrics_at(self, step: int) -> dict[str, float]:
        return {key: values[step] for key, values in self.curves.items() if step < len(values)}


def parse_args(argv: Sequence[str] | None = None) -> SleepJob:
    parser = argparse.ArgumentParser(prog=MODULE)
    parser.add_argument("--step-s", type=float, default=0.5)
    parser.add_argument("--metric", action="append", default=[], help="KEY=v0,v1,…")
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--tail-s", type=float, default=0.0, help="seconds after the last step")
    parser.add_argument("--gate", default=None, help="(threads only) wait for this gate first")
    parser.add_argument("--no-mlflow", action="store_true", help="print times only")
    parser.add_argument("--gate-file", default=None, help="(processes) wait for this file first")
    args = parser.parse_args(argv)
    curves = {}
    for item in args.metric:
        key, _, values = item.rpartition("=")
        curves[key] = [float(v) for v in values.split(",") if v]
    return SleepJob(
        curves,
        args.step_s,
        args.exit_code,
        args.tail_s,
        args.gate,
        bool(args.no_mlflow),
        args.gate_file,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the planned steps in this process; return the planned exit code."""
    job = parse_args(argv)
    if job.gate is not None:
        print(f"--gate {job.gate}: gates need ThreadLauncher", file=sys.stderr)
        return 2
    if job.no_mlflow:
        for _ in range(job.steps):
            time.sleep(job.step_s)
        print(f"started_at={STARTED_AT!r} ended_at={time.time()!r}", flush=True)
        return job.exit_code

    import mlflow

    mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"])
    mlflow.set_tag(PID_TAG, str(os.getpid()))
    while job.gate_file is not None and not os.path.exists(job.gate_file):
        time.sleep(0.02)  # a test opens the gate when the state it orders the job after holds
    print(f"sleep job {os.getpid()}: {job.steps} steps of {job.step_s}s", flush=True)
    for step in range(job.steps):
        time.sleep(job.step_s)
        mlflow.log_metrics(job.metrics_at(step), step=step)
    time.sleep(job.tail_s)  # like a trainer's teardown after its last validation
    mlflow.log_metrics({STARTED_METRIC: STARTED_AT, ENDED_METRIC: time.time()})
    mlflow.end_run("FINISHED" if job.exit_code == 0 else "FAILED")
    return job.exit_code


def run_in_thread(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    stopped: threading.Event,
    echo: Callable[[str], None],
) -> int | None:
    """The same job in a thread of this process, logging through an ``MlflowClient`` on
    ``env``'s ``MLFLOW_TRACKING_URI`` and ``MLFLOW_RUN_ID``: returns its exit code, or None once
    ``stopped`` is set (the run is then left to whoever stopped it, as a killed process's is).
    """
    started = time.time()
    job = parse_args(argv)
    client = None
    if not job.no_mlflow:
        from mlflow import MlflowClient

        client, run_id = MlflowClient(env["MLFLOW_TRACKING_URI"]), env["MLFLOW_RUN_ID"]

    def log(metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        if client is not None:
            now = int(time.time() * 1000)
            batch = [Metric(k, v, now, step) for k, v in metrics.items()]
            client.log_batch(run_id, metrics=batch)

    echo(f"sleep job thread {threading.get_ident()}: {job.steps} steps of {job.step_s}s")
    if job.gate is not None:
        with _GATES_LOCK:
            gate = _GATES[job.gate]
        while not gate.wait(0.05):  # two events to wait on: the gate, and a stop
            if stopped.is_set():
                return None
    for step in range(job.steps):
        if stopped.wait(job.step_s):
            return None
        log(job.metrics_at(step), step)
    if stopped.wait(job.tail_s):
        return None
    if client is None:
        echo(f"started_at={started!r} ended_at={time.time()!r}")
        return job.exit_code
    log({STARTED_METRIC: started, ENDED_METRIC: time.time()}, 0)
    client.set_terminated(run_id, "FINISHED" if job.exit_code == 0 else "FAILED")
    return job.exit_code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown (MLflow's exit handlers take ~1 s here): the run is
    # closed and nothing else is pending, and this job stands in for training only.
    os._exit(code)
