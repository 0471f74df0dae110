"""SleepJobRunner: a trial runner that stands in for training, to measure and test the
study controller.

It does what ``rmsweep.run.start_run`` does around a job, with the same tracking calls
(``tracking.ensure_experiment``, ``tracking.create_run``, ``tracking.finish_run``): an MLflow
child run, a submitted job, a handle to poll, stop and finish it. Its job only sleeps and
logs a planned metric curve into the run the way veRL would (``_sleep_job``).
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names, shipping, tracking
from rmsweep.config import REPO_ROOT
from rmsweep.errors import LaunchError
from rmsweep.testing import _sleep_job
from rmsweep.testing._plan import PlanFn, SleepPlan, default_plan, parse_overrides

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.run import RunResult


class SleepJobRunner:
    """Stands in for training, only to measure and test the controller.

    Each trial gets a real MLflow child run and a job (the :class:`SleepPlan` its overrides
    map to) through ``launcher``.

    Args:
        tracking_uri: the study's MLflow store.
        experiment: the study's experiment (created when missing, as for a real run).
        launcher: ``RayLauncher``, ``ProcessLauncher`` or ``ThreadLauncher``.
        artifact_root: where a new experiment keeps its artifacts (``tracking.artifact_root``).
        data_source: maps short metric names onto veRL keys (``names.metric_key``).
        plan: overrides → plan (default :func:`default_plan`).
        base: overrides applied before each trial's own (the study's base).
        owns_launcher: close the launcher in :meth:`close`.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment: str,
        launcher: Any,
        artifact_root: str | Path | None = None,
        data_source: str = "synthetic",
        plan: PlanFn = default_plan,
        base: Sequence[str] = (),
        owns_launcher: bool = False,
    ) -> None:
        self.client = tracking.tracking_client(tracking_uri)
        self.tracking_uri = tracking_uri
        self.experiment_id = tracking.ensure_experiment(self.client, experiment, artifact_root)
        self.launcher = launcher
        self.data_source = data_source
        self.plan = plan
        self.base = list(base)
        self.owns_launcher = owns_launcher

    @classmethod
    def factory(
        cls, *, launcher: str | Any = "process", plan: PlanFn = default_plan
    ) -> Callable[[Any, DictConfig, list[str]], SleepJobRunner]:
        """A runner factory for ``launch_study``: ``launcher`` is ``"process"``
        (``ProcessLauncher``), ``"thread"`` (``ThreadLauncher``), ``"ray"`` (a new
        ``RayLauncher`` on the base config's cluster) or a launcher object."""

        def build(ctx: Any, cfg: DictConfig, base: list[str]) -> SleepJobRunner:
            return cls(
                tracking_uri=cfg.tracking.uri,
                experiment=cfg.experiment,
                artifact_root=cfg.tracking.artifact_root,
                launcher=_launcher(launcher, cfg),
                data_source=cfg.data.name,
                plan=plan,
                base=base,
                owns_launcher=isinstance(launcher, str),
            )

        return build

    def start(
        self, overrides: Sequence[str], *, tags: Mapping[str, str], parent_run_id: str
    ) -> SleepJobHandle:
        plan = self.plan(parse_overrides([*self.base, *overrides]))
        run_id = tracking.create_run(
            self.client,
            self.experiment_id,
            run_name=f"{tags.get(names.TAG_STUDY, 'study')}-trial-{tags.get(names.TAG_TRIAL)}",
            tags=tags,
            params=parse_overrides(overrides),
            parent_run_id=parent_run_id,
        )
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_RUN_ID": run_id}
        try:
            command, shipped = shlex.join(self._command(plan)), self._shipped()
            if shipped:
                command = shipping.entrypoint(command)
            job_id = self.launcher.submit(
                command, env=env, submission_id=job_id_of(run_id), **shipped
            )
        except BaseException as err:
            # As run.start_run: a run whose job never started ends with the reason.
            self.client.set_tag(run_id, names.TAG_REASON, str(err)[:5000])
            interrupted = isinstance(err, KeyboardInterrupt)
            tracking.finish_run(self.client, run_id, "killed" if interrupted else "failed")
            raise
        self.client.set_tag(run_id, names.TAG_JOB_ID, job_id)
        return SleepJobHandle(self, run_id, job_id, final_step=_final_step(plan))

    def attach(
        self, overrides: Sequence[str], *, run_id: str, job_id: str | None
    ) -> SleepJobHandle:
        """A handle on a trial another controller started (its job may still run, or not).

        Raises:
            LaunchError: the jobs were on a local Ray head, which died with that controller.
        """
        if type(self.launcher).__name__ == "RayLauncher" and self.launcher.address is None:
            raise LaunchError(
                f"its job is gone: the local Ray head died with the controller that started it "
                f"(run {run_id})"
            )
        plan = self.plan(parse_overrides([*self.base, *overrides]))
        return SleepJobHandle(self, run_id, job_id or job_id_of(run_id), _final_step(plan))

    def config_digest(self, overrides: Sequence[str]) -> str:
        """What identical trials share: the sleep job's whole input is its overrides."""
        params = sorted(parse_overrides([*self.base, *overrides]).items())
        return hashlib.sha256(repr(params).encode()).hexdigest()

    def _command(self, plan: SleepPlan) -> list[str]:
        command = [sys.executable, "-m", _sleep_job.MODULE, "--step-s", str(plan.step_s)]
        for short, values in plan.curves.items():
            # Like a veRL run: the short name and veRL's key, step by step (short first).
            for key in dict.fromkeys([short, names.metric_key(short, self.data_source)]):
                command += ["--metric", f"{key}={','.join(map(str, values))}"]
        command += ["--exit-code", str(plan.exit_code), "--tail-s", str(plan.tail_s)]
        if plan.gate is not None:
            command += ["--gate", _sleep_job.register_gate(plan.gate)]
        if plan.gate_file is not None:
            command += ["--gate-file", plan.gate_file]
        return command

    def _shipped(self) -> dict[str, Any]:
        """On a Ray head of another machine, the job gets rmsweep as its working dir (as a
        real run's does: ``rmsweep.shipping``): its nodes need not have the checkout."""
        address = getattr(self.launcher, "address", None)
        if address is None or shipping.on_this_machine(str(address)):
            return {}
        return {"working_dir": REPO_ROOT, "excludes": shipping.EXCLUDES}

    def free_slots(self) -> int | None:
        return None

    def close(self) -> None:
        if self.owns_launcher:
            self.launcher.close()


def job_id_of(run_id: str) -> str:
    """A trial's job id follows from its run id: a controller that died between submitting
    the job and recording its id leaves a job the next one can still find."""
    return f"sleep-{run_id}"


def _final_step(plan: SleepPlan) -> int:
    return max((len(v) for v in plan.curves.values()), default=1) - 1


def _launcher(kind: str | Any, cfg: DictConfig) -> Any:
    if kind == "ray":
        from rmsweep.launch import RayLauncher

        return RayLauncher(cfg.cluster.address, workdir=Path(cfg.workdir))
    if kind == "process":
        from rmsweep.testing._process import ProcessLauncher

        return ProcessLauncher(Path(cfg.workdir) / "sleepjobs")
    if kind == "thread":
        from rmsweep.testing._thread import ThreadLauncher

        return ThreadLauncher()
    return kind


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
        return self._close("complete" if self.poll() == names.JOB_SUCCEEDED else "failed")

    def _close(self, state: str) -> RunResult:
        from rmsweep.run import RunResult

        client = self.runner.client  # the run's end is the controller's (after it tells Optuna)
        metrics = dict(client.get_run(self.run_id).data.metrics)
        return RunResult(self.run_id, self.job_id, state, metrics)
