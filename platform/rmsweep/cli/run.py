"""`rmsweep run …`: one tracked training run, and reproducing one."""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from rich.status import Status

    from rmsweep.capacity import ClusterResources
    from rmsweep.run import RunHandle

RESOURCES_EVERY_S = 5.0  # how often a run that has not started training reads the cluster

app = typer.Typer(
    help="Train one reward model (a tracked veRL GRPO or SFT run) or reproduce one.",
    no_args_is_help=True,
)


_CHECK_HELP = (
    "Dry run: compose veRL's config as the job would, run veRL's own validation, print what "
    "the job will ask for (GPUs, rollout, batches, lengths, memory) and exit."
)


def _check(resolved: DictConfig, stage: str) -> None:
    from rmsweep.cli._check import print_plans
    from rmsweep.verl_check import check

    print_plans(check(resolved, stage), title="the run's job")


@app.command(context_settings={"allow_extra_args": False})
def train(
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides, e.g. reward=linear trainer.lr=5e-4"
    ),
    cfg: bool = typer.Option(False, "--cfg", help="Print the resolved config and exit."),
    check: bool = typer.Option(False, "--check", help=_CHECK_HELP),
) -> None:
    """Compose configs/ with OVERRIDES, record the run in MLflow, run it as a Ray job."""
    from rmsweep.config import compose, to_yaml

    resolved = compose(overrides or [])
    if cfg:
        typer.echo(to_yaml(resolved), nl=False)
        return
    if check:
        _check(resolved, "grpo")
        return
    from rmsweep.run import train as run_train

    with RunProgress() as progress:
        result = run_train(resolved, overrides=overrides or [], on_poll=progress)
    _print_result(result.run_id, result.state, result.metrics, resolved)
    if result.state != "complete":
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": False})
def sft(
    overrides: list[str] = typer.Argument(
        None,
        help="Hydra overrides, e.g. data=traces_pairwise data.path=traces.jsonl "
        "template=pairwise_verdict sft.lr=1e-4",
    ),
    cfg: bool = typer.Option(False, "--cfg", help="Print the resolved config and exit."),
    check: bool = typer.Option(False, "--check", help=_CHECK_HELP),
) -> None:
    """SFT on a teacher's reasoning traces (RM-R1's first stage) with veRL's SFT trainer,
    recorded in MLflow like a GRPO run; then `run train model.from_run=<its run id>`."""
    from rmsweep.config import compose, to_yaml

    resolved = compose(overrides or [])
    if cfg:
        typer.echo(to_yaml(resolved), nl=False)
        return
    if check:
        _check(resolved, "sft")
        return
    from rmsweep.run import train as run_train

    with RunProgress() as progress:
        result = run_train(resolved, overrides=overrides or [], on_poll=progress, stage="sft")
    _print_result(result.run_id, result.state, result.metrics, resolved, stage="sft")
    if result.state != "complete":
        raise typer.Exit(1)


@app.command()
def reproduce(
    run_id: str = typer.Argument(..., help="The MLflow run id to re-run."),
    force: bool = typer.Option(False, "--force", help="Run even if a digest differs."),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow store of the run (default: .rmsweep/mlflow.db).",
    ),
) -> None:
    """Re-run RUN_ID from its record and print how its final metrics differ."""
    from rich.console import Console
    from rich.table import Table

    from rmsweep.reproduce import reproduce as do_reproduce

    with RunProgress() as progress:
        rep = do_reproduce(
            run_id, force=force, tracking_uri=tracking_uri or _default_uri(), on_poll=progress
        )
    console = Console()
    if rep.mismatches:
        console.print(f"[yellow]forced past changed digests: {', '.join(rep.mismatches)}[/]")
    diffs = rep.differences()
    console.print(f"new run {rep.run_id} ({rep.state}) reproduces {run_id}", soft_wrap=True)
    skipped = len(set(rep.metrics) | set(rep.original_metrics)) - len(rep.compared())
    if not diffs:
        console.print(
            f"[green]all {len(rep.compared())} final metrics identical[/] "
            f"({skipped} timing and numerical-diagnostic metrics not compared)"
        )
    else:
        table = Table("metric", "original", "reproduction")
        for key, (old, new) in diffs.items():
            table.add_row(key, str(old), str(new))
        console.print(table)
    if rep.state != "complete":
        raise typer.Exit(1)


def _default_uri() -> str:
    from rmsweep.config import compose

    return compose([]).tracking.uri


def _print_result(
    run_id: str, state: str, metrics: dict[str, float], cfg: DictConfig, stage: str = "grpo"
) -> None:
    from rich.console import Console

    from rmsweep import links, names
    from rmsweep.tracking import tracking_client

    if stage == "sft":
        shown = {k: metrics.get(k) for k in ("train/loss", "val/loss")}
    else:
        shown = {"val/acc": metrics.get(names.metric_key("val/acc", cfg.data.name))}
    finals = "".join(f", final {k} {v:.3f}" for k, v in shown.items() if v is not None)
    run = tracking_client(cfg.tracking.uri).get_run(run_id)
    experiment_id, tags = run.info.experiment_id, run.data.tags
    if names.TAG_TRACES_READ in tags:
        finals += (
            f", trained on {tags[names.TAG_TRACES_KEPT]} of {tags[names.TAG_TRACES_READ]} traces"
        )
    url = links.run_url(links.ui_base(cfg.tracking.uri), experiment_id, run_id)
    after = ""
    if stage == "sft" and state == "complete":
        after = f"\nnext stage: rmsweep run train model.from_run={run_id} …"
    Console().print(
        f"run {run_id}: {state}{finals}\nbrowse: {url} (start the UI with `rmsweep ui`){after}",
        soft_wrap=True,
    )


class RunProgress:
    """Shows a running job's state, step and val/acc, and what a waiting job waits for.

    On a terminal: one live line. Piped or in CI: one line per change (never a line per poll).
    Used as ``on_poll`` of ``rmsweep.run.wait``.
    """

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True, soft_wrap=True)
        self._live = self._console.is_terminal and not os.environ.get("CI")
        self._status: Status | None = None
        self._last = ""
        self._cluster: ClusterResources | None = None
        self._cluster_read = 0.0

    def __enter__(self) -> RunProgress:
        if self._live:
            self._status = self._console.status("starting the run…")
            self._status.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
            if self._last:
                self._console.print(self._last)

    def __call__(self, handle: RunHandle, status: str) -> None:
        try:
            line = self.describe(handle, status)
        except Exception:  # a progress line is not worth stopping a run for; the next poll tries
            return
        if line == self._last:
            return
        self._last = line
        if self._status is not None:
            self._status.update(line)
        else:
            self._console.print(line)
            sys.stderr.flush()

    def describe(self, handle: RunHandle, status: str) -> str:
        """``run ID: job RUNNING, step 2/3, val/acc 0.531`` (or what it waits for)."""
        from rmsweep import capacity, names

        parts = [f"run {handle.run_id}: job {status}"]
        sft = handle.stage == "sft"
        steps = handle.history("train/loss" if sft else "train/reward")
        if steps:
            total = handle.cfg.sft.total_steps if sft else handle.cfg.trainer.total_steps
            parts.append(f"step {steps[-1][0]}/{total}")
        shown = steps if sft else handle.history("val/acc")
        if shown:
            parts.append(f"{'train/loss' if sft else 'val/acc'} {shown[-1][1]:.3f}")
        if not steps and status in (names.JOB_PENDING, names.JOB_RUNNING):
            needs = capacity.job_resources(handle.cfg, handle.stage)
            if needs and time.monotonic() - self._cluster_read > RESOURCES_EVERY_S:
                self._cluster_read = time.monotonic()
                self._cluster = capacity.cluster_resources(handle.launcher, wait_s=0)
            waiting = capacity.waiting_for(needs, self._cluster)
            if waiting:
                parts.append(waiting)
        return ", ".join(parts)
