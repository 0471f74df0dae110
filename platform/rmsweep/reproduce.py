"""Re-run a recorded run: rebuild its resolved config, check digests, launch, compare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import ReproduceError

if TYPE_CHECKING:
    from mlflow.entities import Run
    from omegaconf import DictConfig

    from rmsweep.run import OnPoll


@dataclass
class Reproduction:
    """The original run, the new one, and the final metrics of both."""

    original_run_id: str
    run_id: str
    state: str
    mismatches: list[str]
    original_metrics: dict[str, float]
    metrics: dict[str, float]

    def compared(self) -> list[str]:
        """The metrics a reproduction must match: all but timings and numerical diagnostics."""
        keys = set(self.original_metrics) | set(self.metrics)
        return sorted(k for k in keys if names.is_reproducible_metric(k))

    def differences(self) -> dict[str, tuple[float | None, float | None]]:
        """Every compared metric whose final value differs (or exists on one side only)."""
        return {
            k: (self.original_metrics.get(k), self.metrics.get(k))
            for k in self.compared()
            if self.original_metrics.get(k) != self.metrics.get(k)
        }


def load_record(run_id: str, tracking_uri: str | None = None) -> tuple[Run, DictConfig]:
    """The recorded run and its resolved config (``config/resolved.yaml``)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from rmsweep.config import load_resolved

    client = mlflow.MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
        text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/config/resolved.yaml")
    except MlflowException as err:
        raise ReproduceError(f"run {run_id}: {str(err).splitlines()[0]}") from None
    return run, load_resolved(text, source=f"run {run_id} config/resolved.yaml")


def check_digests(run: Run, cfg: DictConfig, tracking_uri: str | None = None) -> list[str]:
    """Names of the digests (code, reward, template, data) that differ from the record, and
    ``prompt`` when the run's Prompt Registry version no longer holds the template's text."""
    from rmsweep.record import CHECKED_DIGESTS, current_digests, prepare_inputs

    now = current_digests(cfg, prepare_inputs(cfg))
    recorded = run.data.tags
    changed = [
        key
        for key in CHECKED_DIGESTS
        if recorded.get(names.DIGEST_TAG_PREFIX + key) not in (None, now.get(key))
    ]
    if not prompt_matches(run, cfg, tracking_uri):
        changed.append("prompt")
    return changed


def prompt_matches(run: Run, cfg: DictConfig, tracking_uri: str | None = None) -> bool:
    """The prompt version the run recorded (tag ``rmsweep.prompt``) holds the template text a
    new run of ``cfg`` would use (True for runs recorded before prompts were registered)."""
    from rmsweep import prompts, templates, tracking

    uri = run.data.tags.get(names.TAG_PROMPT)
    if uri is None:
        return True
    client = tracking.tracking_client(tracking_uri or cfg.tracking.uri)
    return prompts.recorded_text(client, uri) == templates.template_text(cfg.template)


def reproduce(
    run_id: str,
    *,
    force: bool = False,
    tracking_uri: str | None = None,
    on_poll: OnPoll | None = None,
) -> Reproduction:
    """Re-run ``run_id`` from its record into a new run tagged ``rmsweep.reproduces``.

    Like ``rmsweep run train``: bad set-ups fail before the new run exists, SIGTERM and
    SIGHUP stop the job and end the run KILLED; ``on_poll`` shows progress.

    Raises:
        ReproduceError: the record is missing, or a digest differs and ``force`` is False.
    """
    from rmsweep import preflight
    from rmsweep.run import make_launcher, start_run, wait
    from rmsweep.signals import signals_as_interrupt

    run, cfg = load_record(run_id, tracking_uri)
    # (a model.from_run checkpoint that is gone is refused here, by prepare_inputs)
    mismatches = check_digests(run, cfg, tracking_uri)
    if mismatches and not force:
        raise ReproduceError(
            f"run {run_id}: {', '.join(mismatches)} changed since it ran "
            "(digest mismatch); use --force to run anyway"
        )
    tags = {names.TAG_REPRODUCES: run_id}
    if mismatches:
        tags[names.TAG_REPRODUCE_MISMATCHES] = ",".join(mismatches)
    stage = run.data.tags.get(names.TAG_STAGE, "grpo")  # runs recorded before SFT: GRPO
    with signals_as_interrupt(), make_launcher(cfg) as launcher:
        preflight.check_run(cfg, launcher, stage)
        handle = start_run(
            cfg, overrides=[f"reproduce:{run_id}"], launcher=launcher, tags=tags, stage=stage
        )
        result = wait(handle, on_poll=on_poll)
    return Reproduction(
        original_run_id=run_id,
        run_id=result.run_id,
        state=result.state,
        mismatches=mismatches,
        original_metrics=dict(run.data.metrics),
        metrics=result.metrics,
    )
