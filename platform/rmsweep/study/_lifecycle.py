"""A study's lifecycle: launch, join, resume (``rmsweep study launch|resume``).

Created once (Optuna study, MLflow experiment and parent run); workers join it; ``resume``
continues it from both stores, repairing their disagreements first (``_doctor``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names, preflight
from rmsweep.errors import LaunchError, SpecError
from rmsweep.study._base import base_overrides, compose_base
from rmsweep.study._components import build_pruner, build_sampler
from rmsweep.study._context import Event, StudyContext
from rmsweep.study._controller import Controller
from rmsweep.study._doctor import repair_on_resume
from rmsweep.study._progress import LiveTable
from rmsweep.study._runner import TrialRunner, VerlTrialRunner, study_slots
from rmsweep.study._spec import StudySpec
from rmsweep.study._storage import (
    default_storage_url,
    hide_password,
    open_storage,
    storage_from_env,
    study_lock,
)
from rmsweep.study._summary import study_summary
from rmsweep.study._tracking import (
    create_parent_run,
    record_summary,
    set_parent_state,
)
from rmsweep.study._validate import load_spec, parse_spec
from rmsweep.tracking import ensure_experiment, tracking_client

if TYPE_CHECKING:
    import optuna
    from omegaconf import DictConfig

RunnerFactory = Callable[[StudyContext, "DictConfig", list[str]], TrialRunner]
Echo = Callable[[str], None]
JOIN_WAIT_S = 120.0


@dataclass
class StudyOutcome:
    """How a ``launch`` or ``resume`` ended, and where its records are."""

    name: str
    storage_url: str
    tracking_uri: str
    parent_run_id: str
    summary: dict[str, Any]
    outcomes: dict[int, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    timed_out: bool = False


def resolve_storage(storage: str | None, spec: StudySpec | None, workdir: str | Path) -> str:
    """``--storage`` / ``$RMSWEEP_STORAGE``, else the spec's, else ``<workdir>/optuna.db``."""
    return (
        storage
        or storage_from_env()
        or (spec.storage if spec else None)
        or default_storage_url(workdir)
    )


def launch_study(
    spec: StudySpec | str | Path,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    storage: str | None = None,
    parallel: int | None = None,
    worker: bool = False,
    n_trials: int | None = None,
    runner: TrialRunner | RunnerFactory | None = None,
    poll_s: float = 0.5,
    echo: Echo = print,
) -> StudyOutcome:
    """Create a study from a spec and run its trials (or, as a worker, join it).

    Args:
        spec: a validated spec, or the path of a spec file.
        overrides: Hydra overrides added to the spec's base for every trial.
        name: the study name (default: the spec's ``name``).
        storage: Optuna storage URL (default: ``$RMSWEEP_STORAGE``, the spec's, or
            ``<workdir>/optuna.db``).
        parallel: slots in this process (default: the spec's, else derived from the cluster).
        worker: join the study when it exists (several workers may share one study).
        n_trials: the trial budget instead of the spec's (kept with the study).
        runner: what runs a trial, or a factory of one (default: ``VerlTrialRunner``).
        poll_s: seconds between polls of running trials.
        echo: where progress lines go.

    Returns:
        The outcome; the records are in MLflow and the Optuna storage.

    Raises:
        SpecError: a bad spec, or a worker's spec that differs from the study's.
        LaunchError: the study exists (and ``worker`` is false), or trials cannot start.
        KeyboardInterrupt: Ctrl-C, after the running jobs were stopped.
    """
    import optuna

    if not isinstance(spec, StudySpec):
        spec = load_spec(spec)
    spec = _with_budget(spec, n_trials)
    name = name or spec.name
    base = base_overrides(spec, overrides, name)
    cfg = compose_base(base, spec)
    url = resolve_storage(storage, spec, cfg.workdir)
    preflight.check_study(url, cfg)  # two databases that answer, a Ray that answers
    rdb = open_storage(url, retries=max(1, spec.retries))
    try:
        study = optuna.create_study(
            storage=rdb,
            study_name=name,
            directions=spec.directions,
            sampler=build_sampler(spec.sampler, spec.space, seed=spec.seed, source=spec.source),
            pruner=build_pruner(spec.pruner),
        )
    except optuna.exceptions.DuplicatedStudyError:
        if not worker:
            raise LaunchError(
                f"study {name!r} already exists in {hide_password(url)}: `rmsweep study resume "
                f"{name}` continues it, `study launch --worker` joins it, --name starts another"
            ) from None
        return _join(
            spec, list(overrides), name, url, rdb, parallel, n_trials, runner, poll_s, echo
        )
    mlflow = tracking_client(cfg.tracking.uri)
    experiment_id = ensure_experiment(mlflow, name, cfg.tracking.artifact_root)
    parent = create_parent_run(
        mlflow, experiment_id, spec, study_name=name, overrides=overrides, storage_url=url
    )
    attrs = {
        names.STUDY_SPEC: spec.text,
        names.STUDY_SPEC_SOURCE: spec.source,
        names.STUDY_OVERRIDES: list(overrides),
        names.STUDY_TRACKING_URI: cfg.tracking.uri,
        names.STUDY_EXPERIMENT_ID: experiment_id,
        names.STUDY_OBJECTIVE_KEYS: [o.key(cfg.data.name) for o in spec.objectives],
        names.STUDY_N_TRIALS: spec.n_trials,
    }
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    study.set_metric_names([o.metric for o in spec.objectives])  # optuna-dashboard's labels
    for params in spec.enqueue[: spec.n_trials]:  # --trials may be below the list's length
        study.enqueue_trial(params)
    study.set_user_attr(names.STUDY_PARENT_RUN, parent)  # last: joining workers wait for it
    echo(f"study {name}: {spec.n_trials} trials, storage {hide_password(url)}, MLflow run {parent}")
    ctx = StudyContext(name, spec, study, rdb, url, mlflow, parent, cfg.data.name, int(cfg.seed))
    return _run(ctx, cfg, base, parallel, runner, poll_s, echo)


def resume_study(
    name: str,
    *,
    storage: str | None = None,
    parallel: int | None = None,
    n_trials: int | None = None,
    runner: TrialRunner | RunnerFactory | None = None,
    poll_s: float = 0.5,
    echo: Echo = print,
) -> StudyOutcome:
    """Continue a study to its ``n_trials`` with the spec and overrides it was created with.

    Trials killed by Ctrl-C run again first; new ones are sampled for the rest.

    Args:
        name: the study.
        storage: its Optuna storage (see :func:`open_study`).
        parallel: slots in this process.
        n_trials: a new budget (e.g. to extend a finished study); kept with the study.
        runner: what runs a trial, or a factory of one (default: ``VerlTrialRunner``).
        poll_s: seconds between polls of running trials.
        echo: where progress lines go.

    Raises:
        SpecError: no such study in the storage.
    """
    preflight.check_resume(storage)  # before the storage is opened: two databases
    study, rdb, url = open_study(name, storage)
    if n_trials is not None:
        _with_budget(stored_spec(study)[0], n_trials)  # checks it
        study.set_user_attr(names.STUDY_N_TRIALS, n_trials)
    spec, overrides = stored_spec(study)
    spec = replace(spec, seed=_offset_seed(spec.seed, len(study.trials)))
    study = _load(name, rdb, spec)
    base = base_overrides(spec, overrides, name)
    cfg = compose_base(base, spec)
    preflight.check_from_run(cfg)  # the model every trial starts from is still there
    mlflow = tracking_client(study.user_attrs.get(names.STUDY_TRACKING_URI, cfg.tracking.uri))
    parent = study.user_attrs.get(names.STUDY_PARENT_RUN)
    if not parent:  # its creator died before making the parent run
        experiment_id = ensure_experiment(mlflow, name, cfg.tracking.artifact_root)
        parent = create_parent_run(
            mlflow, experiment_id, spec, study_name=name, overrides=overrides, storage_url=url
        )
        study.set_user_attr(names.STUDY_PARENT_RUN, parent)
    repair_on_resume(study, rdb, mlflow, spec.objectives, echo)  # the two records agree
    set_parent_state(mlflow, parent, "running")
    echo(f"study {name}: resuming to {spec.n_trials} trials ({len(study.trials)} so far)")
    ctx = StudyContext(name, spec, study, rdb, url, mlflow, parent, cfg.data.name, int(cfg.seed))
    return _run(ctx, cfg, base, parallel, runner, poll_s, echo)


def open_study(
    name: str, storage: str | None = None
) -> tuple[optuna.Study, optuna.storages.RDBStorage, str]:
    """Load an existing study (``--storage``, ``$RMSWEEP_STORAGE`` or the default sqlite).

    Raises:
        SpecError: no study of that name (the message lists the studies that exist there).
    """
    import optuna

    url = storage or storage_from_env() or default_storage_url(compose_base([]).workdir)
    rdb = open_storage(url)
    try:
        study = optuna.load_study(study_name=name, storage=rdb)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(rdb)]
        listed = ", ".join(known) if known else "none"
        raise SpecError(
            f"no study {name!r} in {hide_password(url)} (studies there: {listed}); "
            "pass --storage URL for another storage"
        ) from None
    return study, rdb, url


def stored_spec(study: optuna.Study) -> tuple[StudySpec, list[str]]:
    """The spec and command-line overrides a study was created with."""
    text = study.user_attrs.get(names.STUDY_SPEC)
    if not text:
        raise SpecError(f"study {study.study_name!r} was not created by rmsweep (no spec stored)")
    original = study.user_attrs.get(names.STUDY_SPEC_SOURCE)
    source = f"{study.study_name} (stored spec of {original})"
    base_dir = Path(original).resolve().parent if original else None
    spec = parse_spec(text, source=source, check_config=False, base_dir=base_dir)
    spec = _with_budget(spec, study.user_attrs.get(names.STUDY_N_TRIALS))
    return spec, list(study.user_attrs.get(names.STUDY_OVERRIDES, []))


def _join(
    spec: StudySpec,
    overrides: list[str],
    name: str,
    url: str,
    rdb: optuna.storages.RDBStorage,
    parallel: int | None,
    n_trials: int | None,
    runner: TrialRunner | RunnerFactory | None,
    poll_s: float,
    echo: Echo,
) -> StudyOutcome:
    import optuna

    study = optuna.load_study(study_name=name, storage=rdb)
    deadline = time.monotonic() + JOIN_WAIT_S
    while not study.user_attrs.get(names.STUDY_PARENT_RUN):  # its creator is still setting up
        if time.monotonic() > deadline:
            raise LaunchError(
                f"study {name!r} has no MLflow parent run after {JOIN_WAIT_S:.0f}s; its creator "
                f"may have died: run `rmsweep study resume {name}`"
            )
        time.sleep(0.5)
        study = optuna.load_study(study_name=name, storage=rdb)
    stored, _ = stored_spec(study)
    if n_trials is not None and n_trials != stored.n_trials:
        raise SpecError(
            f"--trials {n_trials} differs from study {name!r}'s budget of {stored.n_trials}; "
            "workers share one budget (change it with `rmsweep study resume NAME --trials N`)"
        )
    if stored.text != spec.text:
        raise SpecError(
            f"{spec.source}: differs from the spec study {name!r} was created with; "
            "join with the same file, or `rmsweep study resume` it"
        )
    spec = replace(stored, seed=_offset_seed(stored.seed, os.getpid()))
    study = _load(name, rdb, spec)
    base = base_overrides(spec, overrides, name)
    cfg = compose_base(base, spec)
    mlflow = tracking_client(study.user_attrs[names.STUDY_TRACKING_URI])
    parent = study.user_attrs[names.STUDY_PARENT_RUN]
    echo(f"study {name}: joined as a worker ({len(study.trials)} trials so far)")
    ctx = StudyContext(name, spec, study, rdb, url, mlflow, parent, cfg.data.name, int(cfg.seed))
    return _run(ctx, cfg, base, parallel, runner, poll_s, echo)


def _run(
    ctx: StudyContext,
    cfg: DictConfig,
    base: list[str],
    parallel: int | None,
    runner: TrialRunner | RunnerFactory | None,
    poll_s: float,
    echo: Echo,
) -> StudyOutcome:
    owned = runner is None or not hasattr(runner, "start")
    if runner is None:
        keys = [e.key for e in ctx.spec.space]
        trial_runner: TrialRunner = VerlTrialRunner(base, base_cfg=cfg, swept_keys=keys)
    elif hasattr(runner, "start"):
        trial_runner = runner  # type: ignore[assignment]
    else:
        trial_runner = runner(ctx, cfg, base)
    try:
        slots = study_slots(trial_runner, parallel or ctx.spec.parallel)
        echo(f"study {ctx.name}: {slots} slot(s)")
        controller = Controller(ctx, trial_runner, parallel=slots, poll_s=poll_s, echo=echo)
        live = (
            echo.showing(ctx.study, ctx.spec.objectives)
            if isinstance(echo, LiveTable)
            else contextlib.nullcontext()
        )
        try:
            with live:
                result = controller.run()
        except KeyboardInterrupt:
            _after_interrupt(ctx, echo)
            raise
    finally:
        if owned:
            trial_runner.close()
    # Workers finishing together would write the parent run's tags at once (MLflow's stores
    # insert a tag without locking): one at a time.
    with study_lock(ctx.storage_url, f"{ctx.name} (parent run)"):
        summary = study_summary(ctx.study, ctx.spec.objectives)
        _finalize(ctx, summary, echo)
    return StudyOutcome(
        name=ctx.name,
        storage_url=ctx.storage_url,
        tracking_uri=str(ctx.mlflow.tracking_uri),
        parent_run_id=ctx.parent_run_id,
        summary=summary,
        outcomes=result.outcomes,
        events=result.events,
        timed_out=result.timed_out,
    )


def _finalize(ctx: StudyContext, summary: dict[str, Any], echo: Echo) -> None:
    """Summary on the parent run; the last worker out marks it complete and draws the plots."""
    record_summary(ctx.mlflow, ctx.parent_run_id, summary)
    counts = summary["counts"]
    if counts["running"] or counts["waiting"]:
        return
    set_parent_state(ctx.mlflow, ctx.parent_run_id, "complete")
    try:
        from rmsweep.study._report import log_plots

        log_plots(ctx.study, ctx.spec, ctx.mlflow, ctx.parent_run_id)
    except Exception as err:  # plots are a convenience; the records are complete without them
        echo(f"study {ctx.name}: plots not drawn ({type(err).__name__}: {err})")


def _after_interrupt(ctx: StudyContext, echo: Echo) -> None:
    try:
        with study_lock(ctx.storage_url, f"{ctx.name} (parent run)"):
            summary = study_summary(ctx.study, ctx.spec.objectives)
            record_summary(ctx.mlflow, ctx.parent_run_id, summary)
            if not summary["counts"]["running"]:
                set_parent_state(ctx.mlflow, ctx.parent_run_id, "killed")
    except Exception as err:
        echo(f"study {ctx.name}: could not update the parent run ({err})")
    echo(f"interrupted: `rmsweep study resume {ctx.name}` continues the study")


def _load(name: str, rdb: optuna.storages.RDBStorage, spec: StudySpec) -> optuna.Study:
    import optuna

    return optuna.load_study(
        study_name=name,
        storage=rdb,
        sampler=build_sampler(spec.sampler, spec.space, seed=spec.seed, source=spec.source),
        pruner=build_pruner(spec.pruner),
    )


def _with_budget(spec: StudySpec, n_trials: int | None) -> StudySpec:
    if n_trials is not None and (n_trials < 1 or n_trials % spec.replicates):
        raise SpecError(
            f"--trials {n_trials}: not a positive multiple of replicates ({spec.replicates})"
        )
    return spec if n_trials is None else replace(spec, n_trials=int(n_trials))


def _offset_seed(seed: int | None, offset: int) -> int | None:
    """Another seed for another process: the same seed would replay the same samples."""
    return None if seed is None else (seed + 7919 * offset) % (2**31)
