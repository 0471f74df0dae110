"""The sweep controller: fill every slot, poll running trials, prune, tell, repeat.

One loop per process, no batch barrier: the moment a trial ends, its slot claims the next one.
State lives in Optuna's storage (the search) and MLflow (the runs); a crashed controller is
recovered from those two by ``study resume`` or by any other worker of the study.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import LaunchError, RmsweepError
from rmsweep.study import _optuna as O
from rmsweep.study import _tracking as T
from rmsweep.study._runner import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    TrialHandle,
    TrialRunner,
    final_step,
)
from rmsweep.study._space import group_keys, suggest, to_overrides

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

    from rmsweep.study._spec import Objective, StudySpec

MAX_START_FAILURES = 3  # consecutive trials that fail to start before the controller gives up
MAX_POLL_ERRORS = 30  # consecutive failed status reads before a trial's job counts as lost
Echo = Callable[[str], None]


@dataclass
class Event:
    """A moment in a trial's life, for the overhead benchmark (``time.time()`` seconds)."""

    trial: int
    kind: str  # claimed | started | running | ended | told
    at: float


@dataclass
class StudyContext:
    """Everything one controller process needs about its study."""

    name: str
    spec: StudySpec
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    storage_url: str
    mlflow: MlflowClient
    parent_run_id: str
    data_source: str


@dataclass
class _Active:
    trial: optuna.Trial
    trial_id: int
    handle: TrialHandle
    values: dict[str, Any]
    reported_step: int = -1
    running: bool = False
    poll_errors: int = 0


@dataclass
class LoopResult:
    """What this controller did: its trials' outcomes and the timing events."""

    outcomes: dict[int, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    interrupted: bool = False
    timed_out: bool = False


def aggregate(history: Sequence[tuple[int, float]], objective: Objective) -> float | None:
    """The value of a metric curve that counts: the last step's, or the best step's."""
    if not history:
        return None
    if objective.aggregate == "last":
        return float(max(history, key=lambda sv: sv[0])[1])
    values = [v for _, v in history]
    return float(max(values) if objective.direction == "maximize" else min(values))


class Controller:
    """Runs one study's trials in ``parallel`` slots until its ``n_trials`` are used.

    Args:
        ctx: the study, its spec, MLflow client and parent run.
        runner: what starts a trial (production: ``VerlTrialRunner``).
        parallel: slots: trials running at once in this process.
        poll_s: seconds between polls of the running trials (the job API is polled).
        echo: where progress lines go.
    """

    def __init__(
        self,
        ctx: StudyContext,
        runner: TrialRunner,
        *,
        parallel: int,
        poll_s: float = 0.5,
        echo: Echo = print,
    ) -> None:
        self.ctx = ctx
        self.runner = runner
        self.parallel = max(1, parallel)
        self.poll_s = poll_s
        self.echo = echo
        self.active: dict[int, _Active] = {}
        self.result = LoopResult()
        self._wake = threading.Event()
        self._heartbeats = _Heartbeats(ctx.storage)
        self._groups = group_keys(ctx.spec.space)
        self._start_failures = 0

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> LoopResult:
        """Run until the budget is spent (or the timeout passes); Ctrl-C stops every job.

        Raises:
            KeyboardInterrupt: after the running trials were stopped and recorded as killed.
        """
        deadline = time.monotonic() + self.ctx.spec.timeout_s if self.ctx.spec.timeout_s else None
        self._heartbeats.start()
        try:
            with _sigterm_as_interrupt():
                self._loop(deadline)
        except KeyboardInterrupt:
            self.result.interrupted = True
            with _sigint_deferred(self.echo):
                self._kill_all()
            raise
        finally:
            self._heartbeats.stop()
        return self.result

    def _loop(self, deadline: float | None) -> None:
        while True:
            accepting = deadline is None or time.monotonic() < deadline
            if not accepting and not self.result.timed_out:
                self.result.timed_out = True
                self.echo(f"timeout reached: no new trials ({len(self.active)} still running)")
            exhausted = False
            while accepting and len(self.active) < self.parallel:
                if not self._start_next():
                    exhausted = True
                    break
            for number in list(self.active):
                self._poll(self.active[number])
            if not self.active and (not accepting or (exhausted and self._study_idle())):
                return
            if accepting and not exhausted and len(self.active) < self.parallel:
                continue  # a slot just freed: fill it now, not after the next poll interval
            self._wake.wait(self.poll_s)

    def _study_idle(self) -> bool:
        """No trial of the study runs anywhere (other workers' trials may still be re-queued)."""
        from optuna.trial import TrialState

        states = (TrialState.RUNNING, TrialState.WAITING)
        return not self.ctx.study.get_trials(deepcopy=False, states=states)

    # --- one trial's life --------------------------------------------------------------------
    def _start_next(self) -> bool:
        """Claim and start a trial; False when the budget is spent."""
        study = self.ctx.study
        trial = O.claim_trial(study, self.ctx.spec.n_trials, self.ctx.storage_url)
        if trial is None:
            return False
        self._reap_stale()
        self._event(trial.number, "claimed")
        storage = self.ctx.storage
        study_id = storage.get_study_id_from_name(study.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        self._heartbeats.add(trial_id)
        values = suggest(trial, self.ctx.spec.space)
        overrides = to_overrides(self.ctx.spec.space, values)
        trial.set_user_attr(O.ATTR_OVERRIDES, overrides)
        tags = {
            names.TAG_STUDY: self.ctx.name,
            names.TAG_TRIAL: str(trial.number),
            T.TAG_KIND: "trial",
        }
        try:
            handle = self.runner.start(overrides, tags=tags, parent_run_id=self.ctx.parent_run_id)
        except KeyboardInterrupt:  # Ctrl-C while it was being prepared: it runs again later
            self._heartbeats.discard(trial_id)
            self._kill_unstarted(trial)
            raise
        except Exception as err:  # the trial fails; the study goes on
            self._heartbeats.discard(trial_id)
            self._fail_to_start(trial, err)
            return True
        self._start_failures = 0
        trial.set_user_attr(O.ATTR_RUN_ID, handle.run_id)
        trial.set_user_attr(O.ATTR_JOB_ID, str(handle.job_id))
        trial.set_user_attr(O.ATTR_STATE, "running")
        trial.set_user_attr(O.ATTR_RUN_URL, T.run_url(self.ctx.mlflow, handle.run_id))
        if (last := final_step(handle)) is not None:
            trial.set_user_attr(O.ATTR_FINAL_STEP, last)
        choices = {k: v for k, v in values.items() if k in self._groups}
        T.record_trial_start(self.ctx.mlflow, handle.run_id, group_choices=choices)
        self.active[trial.number] = _Active(trial, trial_id, handle, values)
        self._event(trial.number, "started")
        shown = " ".join(overrides) or "(base config)"
        self.echo(f"trial {trial.number} started: {shown} (run {handle.run_id})")
        return True

    def _kill_unstarted(self, trial: optuna.Trial) -> None:
        from optuna.trial import TrialState

        with _sigint_deferred(self.echo), contextlib.suppress(Exception):
            trial.set_user_attr(O.ATTR_STATE, "killed")
            trial.set_user_attr(O.ATTR_REASON, "stopped by Ctrl-C before its job started")
            frozen = self.ctx.study.tell(trial, state=TrialState.FAIL)
            O.requeue(self.ctx.study, frozen, reason="killed by Ctrl-C", same_attempt=True)
            self.result.outcomes[trial.number] = "killed"
            self.echo(f"trial {trial.number} killed")

    def _fail_to_start(self, trial: optuna.Trial, err: Exception) -> None:
        from optuna.trial import TrialState

        reason = (
            f"did not start: {err}"
            if isinstance(err, RmsweepError)
            else (f"did not start: {type(err).__name__}: {err}")
        )
        trial.set_user_attr(O.ATTR_STATE, "failed")
        trial.set_user_attr(O.ATTR_REASON, reason[:2000])
        self.ctx.study.tell(trial, state=TrialState.FAIL)
        self.result.outcomes[trial.number] = "failed"
        self.echo(f"trial {trial.number} failed: {reason}")
        self._start_failures += 1
        if self._start_failures >= MAX_START_FAILURES:
            raise LaunchError(
                f"{self._start_failures} trials in a row did not start; the last: {reason}"
            )

    def _poll(self, active: _Active) -> None:
        number = active.trial.number
        try:
            status = active.handle.poll()
        except RmsweepError as err:
            active.poll_errors += 1
            if active.poll_errors < MAX_POLL_ERRORS:
                self.echo(f"trial {number}: cannot read its job status ({err}); retrying")
                return
            self.echo(f"trial {number}: lost its job after {active.poll_errors} failed reads")
            status = FAILED
        else:
            active.poll_errors = 0
        if status == RUNNING and not active.running:
            active.running = True
            self._event(number, "running")
            self.echo(f"trial {number} running (job {active.handle.job_id})")
        if status in TERMINAL:
            self._event(number, "ended")
            self._end(active, status)
        elif status == RUNNING and self.ctx.spec.prunes:
            if self._report(active) and not self._finished(active) and active.trial.should_prune():
                self._prune(active)

    def _report(self, active: _Active) -> bool:
        """Send new points of the first objective's curve to Optuna; whether there were any."""
        objective = self.ctx.spec.objectives[0]
        before = active.reported_step
        for step, value in active.handle.history(objective.metric):
            if step > active.reported_step:
                active.trial.report(float(value), int(step))
                active.reported_step = int(step)
                self.echo(
                    f"trial {active.trial.number} step {step}: {objective.metric}={value:.4g}"
                )
        return active.reported_step > before

    def _finished(self, active: _Active) -> bool:
        """Its last validation is in: too late to save anything by pruning."""
        last = final_step(active.handle)
        return last is not None and active.reported_step >= last

    def _prune(self, active: _Active) -> None:
        from optuna.trial import TrialState

        number = active.trial.number
        active.handle.stop("pruned")
        self._event(number, "ended")
        step = active.reported_step
        active.trial.set_user_attr(O.ATTR_STATE, "pruned")
        active.trial.set_user_attr(O.ATTR_REASON, f"pruned at step {step}")
        self.ctx.study.tell(active.trial, state=TrialState.PRUNED)
        T.record_trial_end(
            self.ctx.mlflow, active.handle.run_id, state="pruned", reason=f"pruned at step {step}"
        )
        self._close(active, "pruned")
        self.echo(f"trial {number} pruned at step {step}")

    def _end(self, active: _Active, status: str) -> None:
        from optuna.trial import TrialState

        number = active.trial.number
        values, reason = self._outcome(active, status)
        if reason is None:
            active.trial.set_user_attr(O.ATTR_STATE, "complete")
            self.ctx.study.tell(active.trial, [values[o.metric] for o in self.ctx.spec.objectives])
            T.record_trial_end(
                self.ctx.mlflow, active.handle.run_id, state="complete", objectives=values
            )
            self._record_best()
            self._close(active, "complete")
            shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            self.echo(f"trial {number} complete: {shown}{self._best_line()}")
            return
        active.trial.set_user_attr(O.ATTR_STATE, "failed")
        active.trial.set_user_attr(O.ATTR_REASON, reason)
        frozen = self.ctx.study.tell(active.trial, state=TrialState.FAIL)
        T.record_trial_end(self.ctx.mlflow, active.handle.run_id, state="failed", reason=reason)
        retry = O.attempt_of(frozen) <= self.ctx.spec.retries
        if retry:
            O.requeue(self.ctx.study, frozen, reason=reason)
        self._close(active, "failed")
        self.echo(f"trial {number} failed: {reason}" + ("; queued again" if retry else ""))

    def _outcome(self, active: _Active, status: str) -> tuple[dict[str, float], str | None]:
        """Close the run; return the objective values, or why the trial failed."""
        try:
            run_state = active.handle.finish().state
        except RmsweepError as err:
            return {}, f"closing its run failed: {err}"
        if status != SUCCEEDED:
            outside = "" if status == FAILED else " (stopped outside the controller)"
            return {}, f"its job ended {status}{outside}{self._failure(active)}"
        if run_state != "complete":
            return {}, f"its run ended {run_state}"
        if self.ctx.spec.prunes:
            self._report(active)
        values: dict[str, float] = {}
        for objective in self.ctx.spec.objectives:
            value = aggregate(active.handle.history(objective.metric), objective)
            if value is None:
                key = objective.key(self.ctx.data_source)
                return {}, f"the job succeeded but logged no {objective.metric} ({key})"
            values[objective.metric] = value
        return values, None

    def _failure(self, active: _Active) -> str:
        """``: <why>`` where the job recorded why it failed (e.g. its evaluation failed)."""
        try:
            why = self.ctx.mlflow.get_run(active.handle.run_id).data.tags.get(names.TAG_FAILURE)
        except Exception:  # the reason is a courtesy; the failure is recorded either way
            return ""
        return f": {why}" if why else ""

    def _close(self, active: _Active, outcome: str) -> None:
        self._heartbeats.discard(active.trial_id)
        self.active.pop(active.trial.number, None)
        self.result.outcomes[active.trial.number] = outcome
        self._event(active.trial.number, "told")

    def _record_best(self) -> None:
        """The parent run's best-so-far history (a chart, not a record: failures only echo)."""
        try:
            with O.study_lock(self.ctx.storage_url, f"{self.ctx.name} (parent run)"):
                trials = self.ctx.study.get_trials(deepcopy=False)
                T.record_best_so_far(
                    self.ctx.mlflow, self.ctx.parent_run_id, trials, self.ctx.spec.objectives
                )
        except Exception as err:
            self.echo(f"study {self.ctx.name}: best-so-far not recorded ({err})")

    def _best_line(self) -> str:
        if len(self.ctx.spec.objectives) != 1:
            return ""
        try:
            best = self.ctx.study.best_trial
        except ValueError:
            return ""
        return f" (best: trial {best.number}, {best.values[0]:.4g})"

    # --- stopping ----------------------------------------------------------------------------
    def _kill_all(self) -> None:
        """Ctrl-C: stop every running job, fail its trial, mark its run KILLED, queue it again."""
        from optuna.trial import TrialState

        if not self.active:
            return
        self.echo(f"stopping {len(self.active)} running trial(s)…")
        actives = list(self.active.values())
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(actives)) as pool:
            stops = {a.trial.number: pool.submit(a.handle.stop, "killed") for a in actives}
        for active in actives:
            number = active.trial.number
            error = stops[number].exception()
            reason = "stopped by Ctrl-C" + (f" (stop failed: {error})" if error else "")
            try:
                active.trial.set_user_attr(O.ATTR_STATE, "killed")
                active.trial.set_user_attr(O.ATTR_REASON, reason)
                frozen = self.ctx.study.tell(active.trial, state=TrialState.FAIL)
                O.requeue(self.ctx.study, frozen, reason="killed by Ctrl-C", same_attempt=True)
                T.record_trial_end(
                    self.ctx.mlflow, active.handle.run_id, state="killed", reason=reason
                )
            except Exception as err:  # keep stopping the others
                self.echo(f"trial {number}: could not record the kill: {err}")
            self._close(active, "killed")
            self.echo(f"trial {number} killed")

    def _reap_stale(self) -> None:
        """Close the MLflow runs of trials another worker abandoned (failed as stale)."""
        from optuna.trial import TrialState

        for frozen in self.ctx.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
            run_id = frozen.user_attrs.get(O.ATTR_RUN_ID)
            if frozen.user_attrs.get(O.ATTR_STATE) != "running" or not run_id:
                continue
            try:
                if self.ctx.mlflow.get_run(run_id).info.status != "RUNNING":
                    continue
                reason = "stale: its controller stopped sending heartbeats"
                T.record_trial_end(self.ctx.mlflow, run_id, state="failed", reason=reason)
            except Exception as err:  # another worker may be doing the same
                self.echo(f"trial {frozen.number}: could not close its stale run ({err})")
                continue
            self.echo(f"trial {frozen.number} failed: {reason}")

    def _event(self, trial: int, kind: str) -> None:
        self.result.events.append(Event(trial, kind, time.time()))


class _Heartbeats:
    """A thread that tells the storage every running trial of this process is alive."""

    def __init__(self, storage: optuna.storages.RDBStorage) -> None:
        self.storage = storage
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.add(trial_id)
        self._beat(trial_id)

    def discard(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.discard(trial_id)

    def start(self) -> None:
        self.stopped.clear()
        self.thread = threading.Thread(target=self._run, name="rmsweep-heartbeats", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def _run(self) -> None:
        while not self.stopped.wait(O.HEARTBEAT_S):
            with self.lock:
                ids = list(self.trial_ids)
            for trial_id in ids:
                self._beat(trial_id)

    def _beat(self, trial_id: int) -> None:
        with contextlib.suppress(Exception):  # a missed beat is retried; the grace is long
            self.storage.record_heartbeat(trial_id)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the worker) takes the Ctrl-C path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _sigint_deferred(echo: Echo) -> Iterator[None]:
    """While running jobs are stopped, a second Ctrl-C only says to wait."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: echo("still stopping jobs; please wait"))
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
