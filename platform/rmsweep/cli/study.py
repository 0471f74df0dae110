"""`rmsweep study …`: validate, launch, resume, follow and compare Optuna studies.

Thin shells over ``rmsweep.study``; heavy imports (optuna, mlflow, ray) happen inside the
commands, so ``--help`` and ``study validate`` stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rmsweep import names
from rmsweep.cli._compare import compare, report
from rmsweep.cli._options import storage_option
from rmsweep.errors import SpecError, StudyInterrupted

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

app = typer.Typer(
    help="Optuna studies over training runs: validate, launch, resume, status, compare, best, "
    "dashboard.",
    no_args_is_help=True,
)

RUNNERS = ("verl", "sleep", "sleep-local")


@app.command()
def validate(
    specs: list[Path] = typer.Argument(..., help="Spec files (sweeps/*.yaml)."),
    no_config: bool = typer.Option(
        False, "--no-config", help="Skip the checks against configs/ (keys, options)."
    ),
) -> None:
    """Check spec files; print every problem as file:line: key: message.

    With configs/ (the default), every corner of each spec's space is also composed as its
    trial would be and validated by veRL itself (`study launch --check` shows the job)."""
    from rmsweep.cli._check import validate_specs

    validate_specs(specs, check_config=not no_config)


_CHECK_HELP = "Dry run: veRL validates every corner of the space; prints the largest job."


@app.command(context_settings={"allow_interspersed_args": True})
def launch(
    spec: Path = typer.Argument(..., help="The spec file (sweeps/*.yaml)."),
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides added to the spec's base, e.g. device=gpu"
    ),
    name: str = typer.Option(None, "--name", help="Study name (default: the spec's name)."),
    storage: str = storage_option(),
    parallel: int = typer.Option(
        None, "--parallel", min=1, help="Slots (default: the spec's, else from the cluster)."
    ),
    worker: bool = typer.Option(
        False, "--worker", help="Join the study if it exists (several workers share one study)."
    ),
    trials: int = typer.Option(None, "--trials", min=1, help="Trial budget (default: the spec's)."),
    poll_s: float = typer.Option(0.5, "--poll", min=0.05, help="Seconds between job polls."),
    runner: str = typer.Option("verl", "--runner", hidden=True, help=f"One of {RUNNERS}."),
    check: bool = typer.Option(False, "--check", help=_CHECK_HELP),
) -> None:
    """Create a study from SPEC and run its trials (Ctrl-C stops the running jobs)."""
    from rmsweep.study import launch_study

    if check:
        from rmsweep.cli._check import check_spec

        check_spec(spec, overrides or [])
        return

    _drive(
        lambda: launch_study(
            spec,
            overrides=overrides or [],
            name=name,
            storage=storage,
            parallel=parallel,
            worker=worker,
            n_trials=trials,
            runner=_runner(runner),
            poll_s=poll_s,
            echo=_progress(),
        )
    )


@app.command()
def resume(
    name: str = typer.Argument(..., help="The study to continue."),
    storage: str = storage_option(),
    parallel: int = typer.Option(None, "--parallel", min=1, help="Slots in this process."),
    trials: int = typer.Option(
        None, "--trials", min=1, help="A new trial budget (e.g. to extend a finished study)."
    ),
    poll_s: float = typer.Option(0.5, "--poll", min=0.05, help="Seconds between job polls."),
    runner: str = typer.Option("verl", "--runner", hidden=True, help=f"One of {RUNNERS}."),
) -> None:
    """Continue study NAME to its n_trials (killed trials run again first)."""
    from rmsweep.study import resume_study

    _drive(
        lambda: resume_study(
            name,
            storage=storage,
            parallel=parallel,
            n_trials=trials,
            runner=_runner(runner),
            poll_s=poll_s,
            echo=_progress(),
        )
    )


@app.command()
def status(
    name: str = typer.Argument(..., help="The study."),
    storage: str = storage_option(),
    watch: bool = typer.Option(
        None, "--watch/--once", help="Refresh until the study ends (default: on a terminal)."
    ),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between refreshes."),
) -> None:
    """Trials of study NAME: running, complete, pruned, failed; best so far."""
    from rich.console import Console

    from rmsweep.study import open_study, stored_spec
    from rmsweep.study._report import print_fitted, status_table

    study, _, _ = open_study(name, storage)
    spec, _ = stored_spec(study)
    console = Console()
    if watch is None:
        watch = sys.stdout.isatty()
    if not watch:
        print_fitted(console, status_table(study, spec.objectives))
        return
    import time

    from rich.live import Live

    from rmsweep.study import state_counts

    with Live(status_table(study, spec.objectives), console=console, refresh_per_second=4) as live:
        while True:
            counts = state_counts(study.get_trials(deepcopy=False))
            done = sum(counts[s] for s in ("complete", "pruned", "failed"))
            if not counts["running"] and not counts["waiting"] and done >= spec.n_trials:
                break
            time.sleep(interval)
            live.update(status_table(study, spec.objectives))


@app.command()
def doctor(
    name: str = typer.Argument(..., help="The study."),
    storage: str = storage_option(),
    fix: bool = typer.Option(False, "--fix", help="Repair every disagreement (Optuna wins)."),
) -> None:
    """Compare study NAME's Optuna trials with their MLflow runs; exit 1 on a disagreement."""
    from rich.console import Console

    from rmsweep.study import open_study, stored_spec
    from rmsweep.study._doctor import examine, table

    study, rdb, _ = open_study(name, storage)
    found = examine(study, rdb, stored_spec(study)[0].objectives, fix=fix)
    if found:
        Console(width=200).print(table(found))
    verdict = "repaired" if fix else f"found; `rmsweep study doctor {name} --fix` repairs them"
    typer.echo(
        f"study {name}: {len(found)} disagreement(s) {verdict}"
        if found
        else f"study {name}: the two records agree ({len(study.trials)} trials)"
    )
    if found and not fix:
        raise typer.Exit(1)


app.command()(compare)
app.command()(report)


@app.command()
def best(
    name: str = typer.Argument(..., help="The study."),
    storage: str = storage_option(),
    reproduce: bool = typer.Option(False, "--reproduce", help="Re-run the best trial."),
    register: str = typer.Option(
        None,
        "--register",
        metavar="MODEL_NAME",
        help="Register the best trial's trained model as a new version of MODEL_NAME in "
        "MLflow's Model Registry (its benchmark scores as version tags).",
    ),
    trial_number: int = typer.Option(
        None, "--trial", help="Register this (complete) trial instead, e.g. one of a Pareto front."
    ),
) -> None:
    """The best trial of study NAME (the Pareto front for several objectives): params, run."""
    from rmsweep.study import open_study, stored_spec
    from rmsweep.study._report import best_trials

    study, _, _ = open_study(name, storage)
    spec, _ = stored_spec(study)
    trials = best_trials(study, spec.objectives)
    if not trials:
        raise SpecError(f"study {name!r} has no complete trial yet")
    if len(spec.objectives) == 1 and spec.replicates > 1:
        seeds = [t for t in study.trials if _same_configuration(t, trials[0])]
        done = [t.values[0] for t in seeds if t.values]
        typer.echo(
            f"configuration {trials[0].user_attrs.get(names.ATTR_CONFIGURATION)}: "
            f"{spec.objectives[0].metric} mean={sum(done) / len(done):.6g} over {len(done)} "
            f"seeds (trials {', '.join(str(t.number) for t in seeds)}); its best seed:"
        )
    for trial in trials:
        values = ", ".join(
            f"{o.metric}={v:.6g}" for o, v in zip(spec.objectives, trial.values, strict=False)
        )
        typer.echo(f"trial {trial.number}: {values}")
        typer.echo(f"  run: {trial.user_attrs.get(names.ATTR_RUN_ID, '')}")
        for key, value in trial.params.items():
            typer.echo(f"  {key}={value}")
    if register:
        chosen = trials if trial_number is None else [_complete_trial(study, trial_number)]
        _register_best(study, chosen, register)
    if reproduce:
        if len(trials) > 1:
            raise SpecError(
                "several Pareto-optimal trials: reproduce one with `rmsweep run reproduce RUN_ID`"
            )
        from rmsweep.reproduce import reproduce as do_reproduce

        run_id = trials[0].user_attrs.get(names.ATTR_RUN_ID)
        rep = do_reproduce(run_id, tracking_uri=study.user_attrs.get(names.STUDY_TRACKING_URI))
        typer.echo(f"reproduced {run_id} as run {rep.run_id} ({rep.state})")
        for key, (old, new) in rep.differences().items():
            typer.echo(f"  {key}: {old} -> {new}")
        if rep.state != "complete":
            raise typer.Exit(1)


def _register_best(study: Study, trials: list[FrozenTrial], model_name: str) -> None:
    from pathlib import Path

    from rmsweep.config import compose
    from rmsweep.registry import register_checkpoint
    from rmsweep.tracking import tracking_client

    if len(trials) > 1:
        numbers = ", ".join(str(t.number) for t in trials)
        raise SpecError(
            f"{len(trials)} Pareto-optimal trials ({numbers}): choose one with --trial N"
        )
    run_id = str(trials[0].user_attrs.get(names.ATTR_RUN_ID, ""))
    if not run_id:
        raise SpecError(
            f"trial {trials[0].number} of study {study.study_name!r} has no MLflow run to register"
        )
    client = tracking_client(str(study.user_attrs.get(names.STUDY_TRACKING_URI, "")))
    download_to = Path(compose([]).workdir) / "checkpoints" / "downloaded"
    version = register_checkpoint(client, run_id, model_name, download_to=download_to)
    _echo(f"registered {model_name} version {version.version} from run {run_id}")


def _same_configuration(trial: FrozenTrial, other: FrozenTrial) -> bool:
    key = names.ATTR_CONFIGURATION
    return key in trial.user_attrs and trial.user_attrs[key] == other.user_attrs.get(key)


def _complete_trial(study: Study, number: int) -> FrozenTrial:
    from optuna.trial import TrialState

    found = [t for t in study.trials if t.number == number]
    if not found or found[0].state != TrialState.COMPLETE:
        raise SpecError(f"study {study.study_name!r} has no complete trial {number}")
    return found[0]


@app.command()
def dashboard(
    name: str = typer.Argument(..., help="The study."),
    storage: str = storage_option(),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """optuna-dashboard on study NAME's storage (the optional extra rmsweep[dashboard])."""
    from rmsweep.errors import RmsweepError
    from rmsweep.study import open_study
    from rmsweep.study._storage import with_driver

    try:
        import optuna_dashboard
    except ImportError:
        raise RmsweepError(
            "optuna-dashboard is not installed: pip install 'rmsweep[dashboard]' "
            "(or `rmsweep ui` for the MLflow UI, which needs nothing more)"
        ) from None
    _, rdb, url = open_study(name, storage)
    study_id = rdb.get_study_id_from_name(name)
    _echo(f"optuna-dashboard: http://{host}:{port}/dashboard/studies/{study_id} (Ctrl-C stops it)")
    try:
        optuna_dashboard.run_server(with_driver(url), host=host, port=port)
    except KeyboardInterrupt:
        _echo("optuna-dashboard stopped")


def _runner(kind: str) -> Any:
    if kind == "verl":
        return None
    if kind not in RUNNERS:
        raise SpecError(f"--runner {kind!r} is not one of {', '.join(RUNNERS)}")
    from rmsweep.testing import SleepJobRunner

    return SleepJobRunner.factory(launcher="ray" if kind == "sleep" else "process")


def _echo(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()


def _progress() -> Any:
    """A live table on a terminal; plain lines when piped or in CI."""
    import os

    if not sys.stdout.isatty() or os.environ.get("CI"):
        return _echo
    from rmsweep.study._progress import LiveTable

    return LiveTable()


def _drive(run_study: Callable[[], Any]) -> None:
    """Run a study loop to its end and print the outcome; Ctrl-C is a one-line error."""
    from rmsweep.signals import signals_as_interrupt

    try:
        with signals_as_interrupt():  # SIGTERM, SIGHUP: the Ctrl-C path, from the start
            outcome = run_study()
    except KeyboardInterrupt:
        raise StudyInterrupted("interrupted: running trials were stopped") from None
    _print_outcome(outcome)


def _print_outcome(outcome: Any) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in outcome.summary["counts"].items() if n)
    typer.echo(f"study {outcome.name}: {counts or 'no trials'}")
    for best in outcome.summary["best"]:
        values = ", ".join(f"{k}={v:.6g}" for k, v in best["values"].items())
        typer.echo(f"best: trial {best['number']} ({values}), run {best['run_id']}")
    typer.echo(f"MLflow: {outcome.tracking_uri} (parent run {outcome.parent_run_id})")
    typer.echo(f"compare: `rmsweep ui {outcome.name}` (the MLflow UI with this study's links)")
