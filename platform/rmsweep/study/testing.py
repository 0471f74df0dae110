"""Trial runners that stand in for training, to measure and test the study controller.

:class:`SleepJobRunner` does what ``run.start_run`` does around a job (an MLflow child run,
a submitted job, a handle to poll, stop and finish it), but its job only sleeps and logs a
planned metric curve into the run the way veRL would. Nothing here trains anything: use it
to test the controller's logic (pruning, retries, slots, Ctrl-C, workers) and to measure its
overhead. Jobs go through a real ``RayLauncher``, or through :class:`ProcessLauncher` (plain
local subprocesses, no Ray) where Ray's start-up would dominate a test.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import LaunchError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.run import RunResult
    from rmsweep.study._controller import StudyContext

SLEEP_JOB_MODULE = "rmsweep.study._sleep_job"


@dataclass
class SleepPlan:
    """What one sleep job does: ``curves[short metric][i]`` is logged at step ``i``."""

    curves: dict[str, list[float]]
    step_s: float = 0.5
    exit_code: int = 0
    tail_s: float = 0.0  # seconds between the last step and the job's end (a teardown)


PlanFn = Callable[[dict[str, str]], SleepPlan]


def default_plan(params: dict[str, str]) -> SleepPlan:
    """A curve fixed by the trial's overrides: ``trainer.total_steps`` steps (default 5) of
    ``$RMSWEEP_SLEEP_STEP_S`` seconds (default 0.5), rising to a score in [0, 1) hashed from
    the params; ``train/response_length`` falls as the score rises."""
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).digest()
    score = int.from_bytes(digest[:4], "big") / 2**32
    steps = int(params.get("trainer.total_steps", "5"))
    acc = [round(score * (i + 1) / steps, 6) for i in range(steps)]
    length = [round(100 * (1 - score) + i, 3) for i in range(steps)]
    step_s = float(os.environ.get("RMSWEEP_SLEEP_STEP_S", "0.5"))
    return SleepPlan({"val/acc": acc, "train/response_length": length}, step_s=step_s)


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``["a.b=1", "template=x"]`` → ``{"a.b": "1", "template": "x"}`` (values as written)."""
    params = {}
    for item in overrides:
        key, _, value = item.partition("=")
        params[key.lstrip("+~")] = value.strip("'")
    return params


class SleepJobRunner:
    """Stands in for training, only to measure and test the controller.

    Each trial gets a real MLflow child run and a real job (a subprocess that sleeps and logs
    the :class:`SleepPlan` its overrides map to), through ``launcher``.

    Args:
        tracking_uri: the study's MLflow store.
        experiment_id: the study's experiment.
        launcher: ``RayLauncher`` or :class:`ProcessLauncher`.
        data_source: maps short metric names onto veRL keys (``names.metric_key``).
        plan: overrides → plan (default :func:`default_plan`).
        base: overrides applied before each trial's own (the study's base).
        owns_launcher: close the launcher in :meth:`close`.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment_id: str,
        launcher: Any,
        data_source: str = "synthetic",
        plan: PlanFn = default_plan,
        base: Sequence[str] = (),
        owns_launcher: bool = False,
    ) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.launcher = launcher
        self.data_source = data_source
        self.plan = plan
        self.base = list(base)
        self.owns_launcher = owns_launcher

    @classmethod
    def factory(
        cls, *, launcher: str | Any = "process", plan: PlanFn = default_plan
    ) -> Callable[[StudyContext, DictConfig, list[str]], SleepJobRunner]:
        """A runner factory for ``launch_study``: ``launcher`` is ``"process"``, ``"ray"`` (a
        new ``RayLauncher`` on the base config's cluster) or a launcher object."""

        def build(ctx: StudyContext, cfg: DictConfig, base: list[str]) -> SleepJobRunner:
            owns = isinstance(launcher, str)
            if launcher == "ray":
                from rmsweep.launch import RayLauncher

                chosen: Any = RayLauncher(cfg.cluster.address, workdir=Path(cfg.workdir))
            elif launcher == "process":
                chosen = ProcessLauncher(Path(cfg.workdir) / "sleepjobs")
            else:
                chosen = launcher
            return cls(
                tracking_uri=cfg.tracking.uri,
                experiment_id=ctx.study.user_attrs["rmsweep.experiment_id"],
                launcher=chosen,
                data_source=cfg.data.name,
                plan=plan,
                base=base,
                owns_launcher=owns,
            )

        return build

    def start(
        self, overrides: Sequence[str], *, tags: Mapping[str, str], parent_run_id: str
    ) -> SleepJobHandle:
        params = parse_overrides([*self.base, *overrides])
        plan = self.plan(params)
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{tags.get(names.TAG_STUDY, 'study')}-trial-{tags.get(names.TAG_TRIAL)}",
            tags={**tags, names.TAG_PARENT: parent_run_id, names.TAG_STATE: "running"},
        )
        run_id = run.info.run_id
        from mlflow.entities import Param

        trial_params = parse_overrides(overrides)
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in trial_params.items()])
        command = [sys.executable, "-m", SLEEP_JOB_MODULE, "--step-s", str(plan.step_s)]
        for short, values in plan.curves.items():
            # Like a veRL run: the short name and veRL's key, step by step (short first).
            for key in dict.fromkeys([short, names.metric_key(short, self.data_source)]):
                command += ["--metric", f"{key}={','.join(map(str, values))}"]
        command += ["--exit-code", str(plan.exit_code), "--tail-s", str(plan.tail_s)]
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_RUN_ID": run_id}
        try:
            job_id = self.launcher.submit(shlex.join(command), env=env)
        except Exception:
            self.client.set_tag(run_id, names.TAG_STATE, "failed")
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_tag(run_id, names.TAG_JOB_ID, job_id)
        final = max((len(v) for v in plan.curves.values()), default=1) - 1
        return SleepJobHandle(self, run_id, job_id, final_step=final)

    def free_slots(self) -> int | None:
        return None

    def close(self) -> None:
        if self.owns_launcher:
            self.launcher.close()


@dataclass
class SleepJobHandle:
    """A started sleep job: the same calls as ``rmsweep.run.RunHandle``."""

    runner: SleepJobRunner
    run_id: str
    job_id: str
    final_step: int | None = None  # the last step the plan logs

    def poll(self) -> str:
        return str(self.runner.launcher.status(self.job_id))

    def history(self, metric: str) -> list[tuple[int, float]]:
        key = names.metric_key(metric, self.runner.data_source)
        points = self.runner.client.get_metric_history(self.run_id, key)
        return sorted((m.step, m.value) for m in points)

    def stop(self, state: str = "killed") -> RunResult:
        self.runner.launcher.stop(self.job_id)
        return self._close(state)

    def finish(self) -> RunResult:
        return self._close("complete" if self.poll() == "SUCCEEDED" else "failed")

    def _close(self, state: str) -> RunResult:
        from rmsweep.run import RunResult
        from rmsweep.tracking import finish_run

        client = self.runner.client
        finish_run(client, self.run_id, state)
        metrics = dict(client.get_run(self.run_id).data.metrics)
        return RunResult(self.run_id, self.job_id, state, metrics)


class ProcessLauncher:
    """Runs each job as a local subprocess, with ``RayLauncher``'s calls; no Ray.

    For controller tests and benchmarks where a Ray head's start-up would dominate. Jobs run
    in their own session (a terminal's Ctrl-C reaches the controller, which stops them);
    ``stop`` sends SIGTERM to the job's process group, then SIGKILL after ``grace_s``.
    """

    def __init__(self, workdir: Path, *, grace_s: float = 5.0) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.grace_s = grace_s
        self._jobs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopped: set[str] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> ProcessLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self,
        entrypoint: str,
        *,
        env: Mapping[str, str],
        submission_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        job_id = submission_id or f"proc-{uuid.uuid4().hex[:12]}"
        log = open(self.workdir / f"{job_id}.log", "wb")  # noqa: SIM115 - the child owns it
        try:
            proc = subprocess.Popen(
                shlex.split(entrypoint),
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as err:
            raise LaunchError(f"cannot start job {job_id}: {err}") from err
        finally:
            log.close()
        with self._lock:
            self._jobs[job_id] = proc
        return job_id

    def status(self, job_id: str) -> str:
        proc = self._job(job_id)
        code = proc.poll()
        if code is None:
            return "RUNNING"
        if job_id in self._stopped:
            return "STOPPED"
        return "SUCCEEDED" if code == 0 else "FAILED"

    def stop(self, job_id: str) -> None:
        proc = self._job(job_id)
        if proc.poll() is not None:
            return
        self._stopped.add(job_id)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            proc.wait()

    def logs(self, job_id: str) -> str:
        self._job(job_id)
        return (self.workdir / f"{job_id}.log").read_text(errors="replace")

    def close(self) -> None:
        """Stop every job still running."""
        with self._lock:
            jobs = list(self._jobs)
        for job_id in jobs:
            self.stop(job_id)

    def _job(self, job_id: str) -> subprocess.Popen[bytes]:
        with self._lock:
            proc = self._jobs.get(job_id)
        if proc is None:
            raise LaunchError(f"unknown job {job_id!r}")
        return proc
