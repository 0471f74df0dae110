"""The sweep controller: fill every slot, poll running trials, prune, tell, repeat.

One loop per process, no batch barrier: the moment a trial ends, its slot claims the next one.
State lives in Optuna's storage (the search) and MLflow (the runs); a crashed controller is
recovered from those two by ``study resume`` or by any other worker of the study.

A trial ends through one path, :meth:`Controller._tell`: Optuna first (state and reason
attrs, ``tell``, a re-run queued), then the MLflow run's end (status, ``rmsweep.state``,
reason). The controller is the only one that ends a trial's run; a crash between the two
writes leaves a told trial whose run is RUNNING, which ``study resume`` ends as Optuna
recorded (``_tracking.end_unended_run``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import LaunchError, RmsweepError
from rmsweep.run import missing_objective
from rmsweep.study._context import Event, LoopResult, StudyContext
from rmsweep.study._heartbeats import Heartbeats
from rmsweep.study._runner import TrialHandle, TrialRunner, final_step
from rmsweep.study._signals import sigint_deferred, sigterm_as_interrupt
from rmsweep.study._space import group_keys, suggest, to_overrides
from rmsweep.study._storage import attempt_of, claim_trial, requeue, study_lock
from rmsweep.study._summary import aggregate, best_line
from rmsweep.study._tracking import (
    end_stale_runs,
    record_best_so_far,
    record_trial_end,
    record_trial_start,
    run_url,
)

if TYPE_CHECKING:
    import optuna


MAX_START_FAILURES = 3  # consecutive trials that fail to start before the controller gives up
MAX_POLL_ERRORS = 30  # consecutive failed status reads before a trial's job counts as lost
Echo = Callable[[str], None]


@dataclass
class _Active:
    trial: optuna.Trial
    trial_id: int
    handle: TrialHandle
    values: dict[str, Any]
    reported_step: int = -1
    running: bool = False
    poll_errors: int = 0


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
        self._heartbeats = Heartbeats(ctx.storage)
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
            with sigterm_as_interrupt():
                self._loop(deadline)
        except KeyboardInterrupt:
            self.result.interrupted = True
            with sigint_deferred(self.echo):
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
        trial = claim_trial(study, self.ctx.spec.n_trials, self.ctx.storage_url)
        if trial is None:
            return False
        end_stale_runs(self.ctx.mlflow, self.ctx.study, self.ctx.spec.objectives, self.echo)
        self._event(trial.number, "claimed")
        storage = self.ctx.storage
        study_id = storage.get_study_id_from_name(study.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        self._heartbeats.add(trial_id)
        values = suggest(trial, self.ctx.spec.space)
        overrides = to_overrides(self.ctx.spec.space, values)
        trial.set_user_attr(names.ATTR_OVERRIDES, overrides)
        tags = {
            names.TAG_STUDY: self.ctx.name,
            names.TAG_TRIAL: str(trial.number),
            names.TAG_KIND: "trial",
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
        trial.set_user_attr(names.ATTR_RUN_ID, handle.run_id)
        trial.set_user_attr(names.ATTR_JOB_ID, str(handle.job_id))
        trial.set_user_attr(names.ATTR_STATE, "running")
        trial.set_user_attr(names.ATTR_RUN_URL, run_url(self.ctx.mlflow, handle.run_id))
        if (last := final_step(handle)) is not None:
            trial.set_user_attr(names.ATTR_FINAL_STEP, last)
        choices = {k: v for k, v in values.items() if k in self._groups}
        record_trial_start(self.ctx.mlflow, handle.run_id, group_choices=choices)
        self.active[trial.number] = _Active(trial, trial_id, handle, values)
        self._event(trial.number, "started")
        shown = " ".join(overrides) or "(base config)"
        self.echo(f"trial {trial.number} started: {shown} (run {handle.run_id})")
        return True

    def _kill_unstarted(self, trial: optuna.Trial) -> None:
        """Ctrl-C while a trial was being prepared: its run, if any, was ended by start_run."""
        with sigint_deferred(self.echo), contextlib.suppress(Exception):
            reason = "stopped by Ctrl-C before its job started"
            self._tell(trial, "killed", reason=reason, requeue_as="killed by Ctrl-C")
            self.echo(f"trial {trial.number} killed")

    def _fail_to_start(self, trial: optuna.Trial, err: Exception) -> None:
        reason = (
            f"did not start: {err}"
            if isinstance(err, RmsweepError)
            else (f"did not start: {type(err).__name__}: {err}")
        )
        self._tell(trial, "failed", reason=reason)
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
            status = names.JOB_FAILED
        else:
            active.poll_errors = 0
        if status == names.JOB_RUNNING and not active.running:
            active.running = True
            self._event(number, "running")
            self.echo(f"trial {number} running (job {active.handle.job_id})")
        if status in names.JOB_TERMINAL:
            self._event(number, "ended")
            self._end(active, status)
        elif status == names.JOB_RUNNING and self.ctx.spec.prunes:
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
        number = active.trial.number
        active.handle.stop("pruned")
        self._event(number, "ended")
        reason = f"pruned at step {active.reported_step}"
        self._tell(active.trial, "pruned", reason=reason, run_id=active.handle.run_id)
        self._close(active)
        self.echo(f"trial {number} {reason}")

    def _end(self, active: _Active, status: str) -> None:
        number = active.trial.number
        values, reason = self._outcome(active, status)
        run_id = active.handle.run_id
        if reason is None:
            self._tell(active.trial, "complete", values=values, run_id=run_id)
            self._close(active)
            self._record_best()
            shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
            self.echo(
                f"trial {number} complete: {shown}{best_line(self.ctx.study, self.ctx.spec.objectives)}"
            )
            return
        retry = attempt_of(active.trial) <= self.ctx.spec.retries
        self._tell(active.trial, "failed", reason=reason, run_id=run_id, retry=retry)
        self._close(active)
        self.echo(f"trial {number} failed: {reason}" + ("; queued again" if retry else ""))

    def _outcome(self, active: _Active, status: str) -> tuple[dict[str, float], str | None]:
        """The objective values of a job that ended, or why its trial failed."""
        try:
            active.handle.finish()
        except RmsweepError as err:
            return {}, f"closing its run failed: {err}"
        if status != names.JOB_SUCCEEDED:
            outside = "" if status == names.JOB_FAILED else " (stopped outside the controller)"
            return {}, f"its job ended {status}{outside}{self._failure(active)}"
        if self.ctx.spec.prunes:
            self._report(active)
        objectives, source = self.ctx.spec.objectives, self.ctx.data_source
        histories = {o.metric: active.handle.history(o.metric) for o in objectives}
        logged = {o.key(source) for o in objectives if histories[o.metric]}
        if reason := missing_objective(logged, list(histories), source):
            return {}, reason
        values = {o.metric: aggregate(histories[o.metric], o) for o in objectives}
        return {k: v for k, v in values.items() if v is not None}, None

    def _failure(self, active: _Active) -> str:
        """``: <why>`` where the job recorded why it failed (e.g. its evaluation failed)."""
        try:
            why = self.ctx.mlflow.get_run(active.handle.run_id).data.tags.get(names.TAG_REASON)
        except Exception:  # the reason is a courtesy; the failure is recorded either way
            return ""
        return f": {why}" if why else ""

    def _tell(
        self,
        trial: optuna.Trial,
        state: str,
        *,
        values: dict[str, float] | None = None,
        reason: str | None = None,
        run_id: str | None = None,
        retry: bool = False,
        requeue_as: str | None = None,
    ) -> None:
        """End a trial ``state`` (complete | pruned | failed | killed): Optuna first, then its
        MLflow run when it has one (``start_run`` ends a run whose job never started).

        ``retry`` queues a re-run that uses one of the spec's retries; ``requeue_as`` queues
        one, for that reason, that does not (Ctrl-C).
        """
        from optuna.trial import TrialState

        trial.set_user_attr(names.ATTR_STATE, state)
        if reason:
            trial.set_user_attr(names.ATTR_REASON, reason[:2000])
        if state == "complete":
            assert values is not None
            frozen = self.ctx.study.tell(
                trial, [values[o.metric] for o in self.ctx.spec.objectives]
            )
        else:
            told = TrialState.PRUNED if state == "pruned" else TrialState.FAIL
            frozen = self.ctx.study.tell(trial, state=told)
        if retry:
            requeue(self.ctx.study, frozen, reason=reason or state)
        elif requeue_as:
            requeue(self.ctx.study, frozen, reason=requeue_as, same_attempt=True)
        self.result.outcomes[trial.number] = state
        if run_id is not None:
            self._end_run(run_id, state, values, reason)

    def _end_run(
        self, run_id: str, state: str, values: dict[str, float] | None, reason: str | None
    ) -> None:
        """The MLflow half of :meth:`_tell`: the only place a trial's run is ended."""
        record_trial_end(self.ctx.mlflow, run_id, state=state, objectives=values, reason=reason)

    def _close(self, active: _Active) -> None:
        """The slot is free again: no more heartbeats for the trial."""
        self._heartbeats.discard(active.trial_id)
        self.active.pop(active.trial.number, None)
        self._event(active.trial.number, "told")

    def _record_best(self) -> None:
        """The parent run's best-so-far history (a chart, not a record: failures only echo)."""
        try:
            with study_lock(self.ctx.storage_url, f"{self.ctx.name} (parent run)"):
                trials = self.ctx.study.get_trials(deepcopy=False)
                record_best_so_far(
                    self.ctx.mlflow, self.ctx.parent_run_id, trials, self.ctx.spec.objectives
                )
        except Exception as err:
            self.echo(f"study {self.ctx.name}: best-so-far not recorded ({err})")

    # --- stopping ----------------------------------------------------------------------------
    def _kill_all(self) -> None:
        """Ctrl-C: stop every running job, fail its trial, mark its run KILLED, queue it again."""
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
                self._tell(
                    active.trial,
                    "killed",
                    reason=reason,
                    run_id=active.handle.run_id,
                    requeue_as="killed by Ctrl-C",
                )
            except Exception as err:  # keep stopping the others
                self.result.outcomes[number] = "killed"
                self.echo(f"trial {number}: could not record the kill: {err}")
            self._close(active)
            self.echo(f"trial {number} killed")

    def _event(self, trial: int, kind: str) -> None:
        self.result.events.append(Event(trial, kind, time.time()))
