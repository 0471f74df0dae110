"""One training run: resolved config -> prepared inputs -> MLflow run -> Ray job -> result.

A run is one stage: ``grpo`` (veRL's GRPO, ``rmsweep run train``) or ``sft`` (veRL's SFT
trainer on reasoning traces, ``rmsweep run sft``); a run starts from another's model with
``model.from_run``.

``start_run`` records everything in MLflow *before* the job starts, then submits the job and
returns a ``RunHandle``; the CLI waits on it, the study controller polls many at once.

A run is ended once, by its owner: the handle for ``rmsweep run train`` and ``reproduce``,
the study controller for a trial (``start_run(ends_run=False)``; it tells Optuna first, then
ends the run). Both judge a job that logged no objective by :func:`missing_objective`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from rmsweep import names
from rmsweep.config import REPO_ROOT
from rmsweep.errors import LaunchError, RmsweepError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from rmsweep.launch import RayLauncher
    from rmsweep.verl import JobInputs, JobSpec

# Ray job status -> how the run ends.
END_STATE = {
    names.JOB_SUCCEEDED: "complete",
    names.JOB_FAILED: "failed",
    names.JOB_STOPPED: "killed",
}
# What a run outside a study must log to count as a result, by stage.
RUN_OBJECTIVE = names.VAL_PREFIX + names.VAL_CORE_VARIABLE
STAGE_OBJECTIVE = {"grpo": RUN_OBJECTIVE, "sft": "train/loss"}


@dataclass
class RunResult:
    """How a run ended: its MLflow run id, Ray job id, final state and last metric values."""

    run_id: str
    job_id: str | None
    state: str  # complete | pruned | failed | killed
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str | None = None  # why it is not complete, when known


def missing_objective(
    logged: Collection[str], objectives: Sequence[str], data_source: str
) -> str | None:
    """Why a job that succeeded is not a result: it logged no value of an objective.

    veRL carries on without MLflow when its logger fails, so a successful job may have logged
    nothing. The one rule for it, used by ``rmsweep run`` (objective ``val/acc``) and by the
    study controller (the spec's objectives).

    Args:
        logged: the run's metric keys (``run.data.metrics``).
        objectives: short names (``val/acc``) or full keys.
        data_source: the run's validation data (``cfg.data.name``).

    Returns:
        None when every objective was logged, else the reason naming the first missing one.
    """
    for metric in objectives:
        key = names.metric_key(metric, data_source)
        if key not in logged:
            return f"the job succeeded but logged no {metric} ({key})"
    return None


class RunHandle:
    """A started run. Poll it, read its metric history from MLflow, stop it or finish it.

    ``ends_run``: whether ``stop`` and ``finish`` end the MLflow run (``rmsweep run``), or
    leave that to the caller (the study controller, after it told Optuna).
    """

    def __init__(
        self,
        *,
        cfg: DictConfig,
        run_id: str,
        job_id: str,
        launcher: RayLauncher,
        client: MlflowClient,
        ends_run: bool = True,
        stage: str = "grpo",
    ) -> None:
        self.cfg = cfg
        self.run_id = run_id
        self.job_id = job_id
        self.ends_run = ends_run
        self.stage = stage
        self._launcher = launcher
        self._client = client
        self._result: RunResult | None = None
        self._node: str | None = None

    @property
    def launcher(self) -> RayLauncher:
        """Where the job runs."""
        return self._launcher

    def poll(self) -> str:
        """The Ray job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED (observed)."""
        status = self._launcher.status(self.job_id)
        self.observe(status)
        return status

    def observe(self, status: str) -> None:
        """After a status read: a running job's node is recorded on its run (``rmsweep.node``)."""
        if status == names.JOB_RUNNING and self._node is None:
            self._record_node()

    def _record_node(self) -> str:
        """Tag the run with the node its job's driver runs on; Ray's message on the job."""
        try:
            node, message = self._launcher.details(self.job_id)
        except RmsweepError:
            return ""
        if node and node != self._node:
            self._client.set_tag(self.run_id, names.TAG_NODE, node)
            self._node = node
        return message

    def history(self, metric: str) -> list[tuple[int, float]]:
        """(step, value) pairs of a metric, by short name (``val/acc``) or full key, by step."""
        key = names.metric_key(metric, self.cfg.data.name)
        points = self._client.get_metric_history(self.run_id, key)
        return sorted((p.step, p.value) for p in points)

    def stop(self, state: str = "killed", *, reason: str | None = None) -> RunResult:
        """Stop the job; the run's end state is ``killed``, ``pruned`` (or ``failed`` when
        the caller failed). A job that cannot be stopped (the cluster is gone) does not keep
        the run from ending; ``reason`` is recorded (tag ``rmsweep.reason``)."""
        if self._result is None:
            try:
                self._launcher.stop(self.job_id)
            except RmsweepError as err:
                reason = f"{reason or state}; stopping its job failed: {err}"
        return self._finalize(state, reason)

    def finish(self) -> RunResult:
        """After the job ended: attach its log and final job status; the run's end state."""
        status = self.poll()
        if status not in names.JOB_TERMINAL:
            raise LaunchError(f"job {self.job_id} is still {status}; stop it or wait for it")
        return self._finalize(END_STATE[status])

    def _finalize(self, state: str, reason: str | None = None) -> RunResult:
        if self._result is not None:
            return self._result
        from rmsweep import tracking
        from rmsweep.launch import job_failure

        client, run_id = self._client, self.run_id
        try:
            log_text = self._launcher.logs(self.job_id)
        except RmsweepError as err:
            log_text = f"(job log unavailable: {err})"
        try:
            job_status = self._launcher.status(self.job_id)
        except RmsweepError:
            job_status = "UNKNOWN"  # the cluster is gone
        tracking.log_text_artifact(client, run_id, log_text, "job/job.log")
        client.set_tag(run_id, names.TAG_JOB_STATUS, job_status)
        message = self._record_node()
        run = client.get_run(run_id)
        if job_status == names.JOB_FAILED and message and names.TAG_REASON not in run.data.tags:
            # The job could not say why (its node died, its runtime env failed): Ray's words.
            reason = reason or job_failure(message, self._node)
            client.set_tag(run_id, names.TAG_REASON, reason)
        metrics = dict(run.data.metrics)
        if self.ends_run:
            if state == "complete":
                objective = STAGE_OBJECTIVE[self.stage]
                reason = missing_objective(metrics, [objective], self.cfg.data.name)
                state = "failed" if reason else state
            if reason:
                client.set_tag(run_id, names.TAG_REASON, reason)
            tracking.finish_run(client, run_id, state)
        self._result = RunResult(run_id, self.job_id, state, metrics, reason)
        return self._result


def default_run_name(cfg: DictConfig, stage: str = "grpo") -> str:
    if stage == "sft":
        return cfg.run_name or f"sft-{cfg.template.name}-s{cfg.seed}"
    shape = cfg.reward.pairwise_mode if cfg.template.task == "pairwise" else cfg.reward.shape
    return cfg.run_name or f"{cfg.template.name}-{shape}-s{cfg.seed}"


def make_launcher(cfg: DictConfig, *, jobs_at_once: int = 1) -> RayLauncher:
    """The launcher for the config's cluster (a local head on demand, or RAY_ADDRESS).

    A local head for CPU jobs advertises the logical resources of ``jobs_at_once`` of them:
    their veRL joins it (``rmsweep.verl.joins_local_head``) instead of starting a Ray each.
    """
    from rmsweep import verl
    from rmsweep.launch import RayLauncher

    if verl.joins_local_head(cfg):
        from rmsweep.verl_cpu import head_resources

        return RayLauncher(None, workdir=Path(cfg.workdir), **head_resources(jobs_at_once))
    return RayLauncher(cfg.cluster.address, workdir=Path(cfg.workdir))


def start_run(
    cfg: DictConfig,
    *,
    overrides: Sequence[str] = (),
    launcher: RayLauncher,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    swept: Sequence[str] = (),
    ends_run: bool = True,
    stage: str = "grpo",
) -> RunHandle:
    """Prepare data and model, create the MLflow run with its full record, submit the job.

    Args:
        cfg: The resolved config (``config.compose``).
        overrides: The user's overrides that produced it (recorded for the reader).
        launcher: Where the job runs.
        tags: Extra MLflow tags (e.g. study and trial).
        parent_run_id: Makes this a child run (a study trial).
        swept: A trial's own overrides, leading its params (``~key``: swept, unused here).
        ends_run: False when the caller ends the run (the study controller).
        stage: ``grpo`` or ``sft`` (tag ``rmsweep.stage``).

    Returns:
        A handle on the running job. If submitting fails, the run is ended as ``failed``
        (``killed`` on Ctrl-C) here, as no one else holds its id, and the error re-raised;
        bad inputs fail before any run exists.
    """
    from rmsweep import record, sft, shipping, stages, tracking

    stages.check_stage_data(cfg, stage)  # a study's trial too (its space may swap the data)
    shipping.check(cfg)
    inputs = record.prepare_inputs(cfg)
    traces = record.prepare_traces(cfg)  # a GRPO run's own SFT stage (sft.traces)
    if stage == "sft":
        sft.check_data(cfg, inputs.data.train_path, inputs.data.val_path, inputs.model_path)
    elif traces is not None:
        sft.check_data(cfg, traces.train_path, traces.val_path, inputs.model_path)
    launcher.start_in_background()  # a local head starts while the run is recorded
    client = tracking.tracking_client(cfg.tracking.uri)
    experiment_id = tracking.ensure_experiment(client, cfg.experiment, cfg.tracking.artifact_root)
    if shipping.ships(cfg):
        shipping.check_experiment(client, experiment_id)
    run_id = record.record(
        client,
        experiment_id,
        cfg,
        inputs,
        run_name=default_run_name(cfg, stage),
        overrides=overrides,
        tags={names.TAG_STAGE: stage, **(tags or {})},
        parent_run_id=parent_run_id,
        swept=swept,
    )
    job_id = None
    try:
        job_inputs = record.job_inputs(cfg, inputs, run_id)
        parcels: list[shipping.Parcel] = []
        if shipping.ships(cfg):
            job_inputs, parcels = shipping.relocate(
                job_inputs,
                model_is_here=Path(inputs.model_path).is_dir(),
                model_run=shipping.model_artifact(client, cfg),  # fetched there, not uploaded
            )
        if traces is not None:
            sft_run_id = stages.record_sft_stage(client, experiment_id, cfg, inputs, traces, run_id)
            spec = stages.chained_job_spec(cfg, job_inputs, traces, sft_run_id)
        else:
            spec = _job_spec(cfg, job_inputs, stage)
        if shipping.ships(cfg):
            spec, parcels = shipping.ship(spec, parcels, REPO_ROOT)
            shipping.pack(client, run_id, parcels)
        job_id = _submit(cfg, spec, job_inputs, launcher, stage)
        client.set_tag(run_id, names.TAG_JOB_ID, job_id)
    except BaseException as err:
        if job_id is not None:  # submitted, then cut short before anyone holds its id
            _stop_quietly(launcher, job_id)
        tracking.end_on_error(client, run_id, err)
        raise
    return RunHandle(
        cfg=cfg,
        run_id=run_id,
        job_id=job_id,
        launcher=launcher,
        client=client,
        ends_run=ends_run,
        stage=stage,
    )


def _job_spec(cfg: DictConfig, inputs: JobInputs, stage: str) -> JobSpec:
    from rmsweep import sft, verl

    return sft.job_spec(cfg, inputs) if stage == "sft" else verl.job_spec(cfg, inputs)


def _submit(
    cfg: DictConfig, spec: JobSpec, inputs: JobInputs, launcher: RayLauncher, stage: str
) -> str:
    from rmsweep import sft, shipping, verl

    python = sys.executable if cfg.cluster.name == "local" else "python"
    env = sft.submit_env(cfg, inputs) if stage == "sft" else verl.submit_env(cfg, inputs)
    command = verl.entrypoint(spec, python=python)
    shipped = shipping.ships(cfg)
    if shipped:
        command = shipping.entrypoint(command)
    # The SFT trainer is the job's own process: its GPU is the entrypoint's (GRPO's are
    # veRL's placement groups, inside the job).
    gpus = 1.0 if stage == "sft" and cfg.device.name == "gpu" else None
    # On a cluster, the driver asks for a CPU (and the configured resources): Ray would run it
    # on the head otherwise, which a CPU job would then train on.
    remote = cfg.cluster.address is not None
    return launcher.submit(
        command,
        env=env,
        metadata={names.JOB_METADATA_RUN_ID: inputs.run_id},
        entrypoint_num_cpus=1.0 if remote else None,
        entrypoint_num_gpus=gpus,
        entrypoint_resources=dict(cfg.cluster.resources or {}) or None,
        working_dir=REPO_ROOT if shipped else None,
        excludes=shipping.EXCLUDES if shipped else None,
    )


def _stop_quietly(launcher: RayLauncher, job_id: str) -> None:
    try:
        launcher.stop(job_id)
    except RmsweepError:
        pass


OnPoll = Callable[[RunHandle, str], None]


def wait(handle: RunHandle, *, poll_s: float = 0.5, on_poll: OnPoll | None = None) -> RunResult:
    """Wait for a run's job to end and end the run.

    Whatever cuts the wait short stops the job and ends the run before it propagates: Ctrl-C
    or a stop signal (``KeyboardInterrupt``; the run ends KILLED), any other error (FAILED),
    each with its reason. ``on_poll(handle, status)`` runs after every status read (progress).
    """
    from rmsweep.signals import sigint_deferred
    from rmsweep.tracking import error_reason

    try:

        def polled(status: str) -> None:
            handle.observe(status)
            if on_poll is not None:
                on_poll(handle, status)

        handle.launcher.wait(handle.job_id, poll_s=poll_s, on_poll=polled)
        return handle.finish()
    except BaseException as err:
        interrupted = isinstance(err, KeyboardInterrupt)
        with sigint_deferred(lambda line: print(line, file=sys.stderr)):
            handle.stop("killed" if interrupted else "failed", reason=error_reason(err))
        raise


def train(
    cfg: DictConfig,
    *,
    overrides: Sequence[str] = (),
    on_poll: OnPoll | None = None,
    stage: str = "grpo",
    tags: Mapping[str, str] | None = None,
) -> RunResult:
    """Run one training job to the end (``rmsweep run train``; ``run sft`` with ``stage``).

    Bad set-ups fail before the run exists (``preflight.check_run``); SIGTERM and SIGHUP
    take the Ctrl-C path: the job is stopped and the run ends KILLED with the signal's name.
    """
    from rmsweep import preflight, stages
    from rmsweep.signals import signals_as_interrupt

    stages.check_stage_data(cfg, stage)
    with signals_as_interrupt(), make_launcher(cfg) as launcher:
        preflight.check_run(cfg, launcher, stage)
        handle = start_run(cfg, overrides=overrides, launcher=launcher, stage=stage, tags=tags)
        return wait(handle, on_poll=on_poll)
