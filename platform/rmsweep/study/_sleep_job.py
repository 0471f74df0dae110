"""The job ``SleepJobRunner`` submits: sleep per step and log metrics the way veRL does.

Stands in for a training job only to measure and test the study controller. Like veRL, it
attaches to ``$MLFLOW_RUN_ID`` with the fluent API, logs ``mlflow.log_metrics(…, step=…)``
after each step and ends the run. It also logs when it started and ended
(``sleepjob/started_at``, ``sleepjob/ended_at``, epoch seconds) and its pid (tag
``sleepjob.pid``), for the overhead benchmark and the Ctrl-C test.

    python -m rmsweep.study._sleep_job --step-s 0.5 --metric KEY=0.1,0.2,0.3 [--exit-code 1]
        [--tail-s 2]
"""

from __future__ import annotations

import time

STARTED_AT = time.time()  # first thing: the job's own start, before any import

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the planned steps; return the planned exit code."""
    parser = argparse.ArgumentParser(prog="rmsweep.study._sleep_job")
    parser.add_argument("--step-s", type=float, default=0.5)
    parser.add_argument("--metric", action="append", default=[], help="KEY=v0,v1,…")
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--tail-s", type=float, default=0.0, help="seconds after the last step")
    parser.add_argument("--no-mlflow", action="store_true", help="print times only")
    args = parser.parse_args(argv)
    curves = {}
    for item in args.metric:
        key, _, values = item.rpartition("=")
        curves[key] = [float(v) for v in values.split(",") if v]
    steps = max((len(v) for v in curves.values()), default=0)
    if args.no_mlflow:
        for _ in range(steps):
            time.sleep(args.step_s)
        print(f"started_at={STARTED_AT!r} ended_at={time.time()!r}", flush=True)
        return args.exit_code

    import mlflow

    mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"])
    mlflow.set_tag("sleepjob.pid", str(os.getpid()))
    print(f"sleep job {os.getpid()}: {steps} steps of {args.step_s}s", flush=True)
    for step in range(steps):
        time.sleep(args.step_s)
        metrics = {key: values[step] for key, values in curves.items() if step < len(values)}
        mlflow.log_metrics(metrics, step=step)
    time.sleep(args.tail_s)  # like a trainer's teardown after its last validation
    mlflow.log_metrics({"sleepjob/started_at": STARTED_AT, "sleepjob/ended_at": time.time()})
    mlflow.end_run("FINISHED" if args.exit_code == 0 else "FAILED")
    return args.exit_code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the interpreter's teardown (MLflow's exit handlers take ~1 s here): the run is
    # closed and nothing else is pending, and this job stands in for training only.
    os._exit(code)
