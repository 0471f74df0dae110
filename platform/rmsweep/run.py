"""One training run: resolved config -> prepared inputs -> MLflow run -> Ray job -> result.

``start_run`` records everything in MLflow *before* the job starts, then submits the job and
returns a ``RunHandle``; the CLI waits on it, the study controller polls many at once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from rmsweep import names
from rmsweep.errors import LaunchError, RmsweepError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from rmsweep.launch import RayLauncher

# Ray job status -> how the run ends.
_END_STATE = {"SUCCEEDED": "complete", "FAILED": "failed", "STOPPED": "killed"}
TERMINAL = frozenset(_END_STATE)


@dataclass
class RunResult:
    """How a run ended: its MLflow run id, Ray job id, final state and last metric values."""

    run_id: str
    job_id: str | None
    state: str  # complete | pruned | failed | killed
    metrics: dict[str, float] = field(default_factory=dict)


class RunHandle:
    """A started run. Poll it, read its metric history from MLflow, stop it or finish it."""

    def __init__(
        self,
        *,
        cfg: DictConfig,
        run_id: str,
        job_id: str,
        launcher: RayLauncher,
        client: MlflowClient,
    ) -> None:
        self.cfg = cfg
        self.run_id = run_id
        self.job_id = job_id
        self._launcher = launcher
        self._client = client
        self._result: RunResult | None = None

    def poll(self) -> str:
        """The Ray job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
        return self._launcher.status(self.job_id)

    def history(self, metric: str) -> list[tuple[int, float]]:
        """(step, value) pairs of a metric, by short name (``val/acc``) or full key, by step."""
        key = names.metric_key(metric, self.cfg.data.name)
        points = self._client.get_metric_history(self.run_id, key)
        return sorted((p.step, p.value) for p in points)

    def stop(self, state: str = "killed") -> RunResult:
        """Stop the job and end the run as ``killed`` or ``pruned``."""
        if self._result is None:
            self._launcher.stop(self.job_id)
        return self._finalize(state)

    def finish(self) -> RunResult:
        """After the job ended: attach its log, derived metrics and the final state."""
        status = self.poll()
        if status not in TERMINAL:
            raise LaunchError(f"job {self.job_id} is still {status}; stop it or wait for it")
        return self._finalize(_END_STATE[status])

    def _finalize(self, state: str) -> RunResult:
        if self._result is not None:
            return self._result
        from rmsweep import tracking

        client, run_id = self._client, self.run_id
        try:
            log_text = self._launcher.logs(self.job_id)
        except RmsweepError as err:
            log_text = f"(job log unavailable: {err})"
        tracking.log_text_artifact(client, run_id, log_text, "job/job.log")
        client.set_tag(run_id, names.TAG_JOB_STATUS, self._launcher.status(self.job_id))
        metrics = dict(client.get_run(run_id).data.metrics)
        acc_key = names.metric_key("val/acc", self.cfg.data.name)
        if state == "complete" and acc_key not in metrics:
            # veRL carries on without MLflow when its logger fails: a run with no
            # validation metric recorded is not a result.
            client.set_tag(run_id, names.TAG_FAILURE, f"job ended without logging {acc_key}")
            state = "failed"
        tracking.finish_run(client, run_id, state)
        self._result = RunResult(run_id=run_id, job_id=self.job_id, state=state, metrics=metrics)
        return self._result


def default_run_name(cfg: DictConfig) -> str:
    shape = cfg.reward.pairwise_mode if cfg.template.task == "pairwise" else cfg.reward.shape
    return cfg.run_name or f"{cfg.template.name}-{shape}-s{cfg.seed}"


def make_launcher(cfg: DictConfig) -> RayLauncher:
    """The launcher for the config's cluster (a local head on demand, or RAY_ADDRESS)."""
    from rmsweep.launch import RayLauncher

    return RayLauncher(cfg.cluster.address, workdir=Path(cfg.workdir))


def start_run(
    cfg: DictConfig,
    *,
    overrides: Sequence[str] = (),
    launcher: RayLauncher,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    swept: Sequence[str] = (),
) -> RunHandle:
    """Prepare data and model, create the MLflow run with its full record, submit the job.

    Args:
        cfg: The resolved config (``config.compose``).
        overrides: The user's overrides that produced it (recorded for the reader).
        launcher: Where the job runs.
        tags: Extra MLflow tags (e.g. study and trial).
        parent_run_id: Makes this a child run (a study trial).
        swept: A trial's own overrides: their keys lead the run's params.

    Returns:
        A handle on the running job. If submitting fails, the run is ended as ``failed``
        (``killed`` on Ctrl-C) and the error re-raised; bad inputs fail before any run exists.
    """
    from rmsweep import record, tracking

    inputs = record.prepare_inputs(cfg)
    client = tracking.tracking_client(cfg.tracking.uri)
    experiment_id = tracking.ensure_experiment(client, cfg.experiment, cfg.tracking.artifact_root)
    run_id = record.record(
        client,
        experiment_id,
        cfg,
        inputs,
        run_name=default_run_name(cfg),
        overrides=overrides,
        tags=dict(tags or {}),
        parent_run_id=parent_run_id,
        lead_params=record.swept_params(cfg, swept),
    )
    try:
        job_id = _submit(cfg, record.job_inputs(cfg, inputs, run_id), launcher)
        client.set_tag(run_id, names.TAG_JOB_ID, job_id)
    except BaseException as err:
        client.set_tag(run_id, names.TAG_FAILURE, str(err)[:5000])
        interrupted = isinstance(err, KeyboardInterrupt)
        tracking.finish_run(client, run_id, "killed" if interrupted else "failed")
        raise
    return RunHandle(cfg=cfg, run_id=run_id, job_id=job_id, launcher=launcher, client=client)


def _submit(cfg: DictConfig, inputs: object, launcher: RayLauncher) -> str:
    from rmsweep import verl

    python = sys.executable if cfg.cluster.name == "local" else "python"
    return launcher.submit(
        verl.entrypoint(verl.job_spec(cfg, inputs), python=python),
        env=verl.submit_env(cfg, inputs),
        metadata={"rmsweep.run_id": inputs.run_id},
    )


def wait(handle: RunHandle, *, poll_s: float = 2.0) -> RunResult:
    """Wait for a run's job to end; Ctrl-C stops the job and marks the run killed."""
    try:
        handle._launcher.wait(handle.job_id, poll_s=poll_s)
    except KeyboardInterrupt:
        handle.stop("killed")
        raise
    return handle.finish()


def train(cfg: DictConfig, *, overrides: Sequence[str] = ()) -> RunResult:
    """Run one training job to the end (the ``rmsweep run train`` command)."""
    with make_launcher(cfg) as launcher:
        handle = start_run(cfg, overrides=overrides, launcher=launcher)
        return wait(handle)
