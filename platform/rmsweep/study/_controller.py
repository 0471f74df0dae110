"""The sweep controller: fill every slot, poll running trials, prune, tell, repeat.

One loop per process, no batch barrier: the moment a trial ends, its slot claims the next one.
State lives in Optuna's storage (the search) and MLflow (the runs); a crashed controller is
recovered from those two by ``study resume`` or by any other worker of the study.

A trial ends through one path, :meth:`Controller._tell` (``_tell.tell_trial``): Optuna
first, then the MLflow run's end. The controller is the only one that ends a trial's run; a
crash between the two writes leaves a told trial whose run is RUNNING, which ``study
resume`` ends as Optuna recorded (``_doctor.repair``). A controller that dies leaves its
trials RUNNING; the next controller of the study adopts them (``_adopt``).
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
from rmsweep.signals import raise_if_stopped, sigint_deferred, signals_as_interrupt
from rmsweep.study._adopt import NEVER_STARTED, Orphan, attach_job, end_told_runs, take_orphans
from rmsweep.study._context import Event, LoopResult, StudyContext
from rmsweep.study._heartbeats import Heartbeats
from rmsweep.study._outcome import job_outcome
from rmsweep.study._owner import my_token
from rmsweep.study._replicates import queue_seeds, seed_override
from rmsweep.study._reuse import reuse_finished
from rmsweep.study._runner import TrialHandle, TrialRunner, final_step
from rmsweep.study._space import group_keys, suggest, to_overrides
from rmsweep.study._storage import HEARTBEAT_S, attempt_of, claim_trial
from rmsweep.study._summary import best_line
from rmsweep.study._tell import record_best, tell_trial
from rmsweep.study._tracking import end_stale_runs, record_trial_start, run_url
from rmsweep.testing._pause import pause_point
from rmsweep.tracking import error_reason

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
        self._next_adoption = 0.0  # monotonic time of the next look for orphaned trials
        self._checked: set[int] = set()  # told trials whose run is known to be ended

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> LoopResult:
        """Run until the budget is spent (or the timeout passes); Ctrl-C stops every job.

        Raises:
            KeyboardInterrupt: after the running trials were stopped and recorded as killed.
        """
        deadline = time.monotonic() + self.ctx.spec.timeout_s if self.ctx.spec.timeout_s else None
        self._heartbeats.start()
        try:
            with signals_as_interrupt():
                self._loop(deadline)
        except KeyboardInterrupt as err:
            self.result.interrupted = True
            with sigint_deferred(self.echo):
                self._kill_all(error_reason(err))
            raise
        finally:
            self._heartbeats.stop()
        return self.result

    def _loop(self, deadline: float | None) -> None:
        while True:
            raise_if_stopped()
            accepting = deadline is None or time.monotonic() < deadline
            if not accepting and not self.result.timed_out:
                self.result.timed_out = True
                self.echo(f"timeout reached: no new trials ({len(self.active)} still running)")
            self._adopt_orphans()
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
        trial = claim_trial(
            study, self.ctx.spec.n_trials, self.ctx.storage_url, lambda t: queue_seeds(self.ctx, t)
        )
        if trial is None:
            return False
        end_stale_runs(self.ctx.mlflow, self.ctx.study, self.ctx.spec.objectives, self.echo)
        self._event(trial.number, "claimed")
        storage = self.ctx.storage
        study_id = storage.get_study_id_from_name(study.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        self._heartbeats.add(trial_id)
        trial.set_user_attr(names.ATTR_CONTROLLER, my_token())
        values = suggest(trial, self.ctx.spec.space)
        overrides = to_overrides(self.ctx.spec.space, values) + seed_override(self.ctx, trial)
        trial.set_user_attr(names.ATTR_OVERRIDES, overrides)
        tags = {
            names.TAG_STUDY: self.ctx.name,
            names.TAG_TRIAL: str(trial.number),
            names.TAG_KIND: "trial",
        }
        if self._reused(trial, trial_id, overrides, tags):
            return True
        pause_point("before-job", trial.number)
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

    def _reused(
        self, trial: optuna.Trial, trial_id: int, overrides: list[str], tags: dict[str, str]
    ) -> bool:
        """Tell a finished identical configuration's values instead of training it again."""
        if (reuse := reuse_finished(self.ctx, self.runner, trial, overrides, tags)) is None:
            return False
        source, values = reuse
        self._tell(trial, "complete", values=values, run_id=trial.user_attrs[names.ATTR_RUN_ID])
        self._heartbeats.discard(trial_id)
        self._event(trial.number, "told")
        self._record_best()
        self.echo(f"trial {trial.number} complete: as trial {source.number}, not trained again")
        return True

    def _adopt_orphans(self) -> None:
        """Take over the trials of dead controllers (see ``_adopt``); at most every few s."""
        if time.monotonic() < self._next_adoption:
            return
        self._next_adoption = time.monotonic() + HEARTBEAT_S / 2
        try:
            orphans = take_orphans(self.ctx, self._heartbeats.add)
        except Exception as err:  # the next look retries; Optuna's stale check is the backstop
            self.echo(f"study {self.ctx.name}: could not look for orphaned trials ({err})")
            return
        for orphan in orphans:
            self._adopt(orphan)
        end_told_runs(self.ctx, self._checked, self.echo)

    def _adopt(self, orphan: Orphan) -> None:
        trial, number, trial_id = orphan.trial, orphan.trial.number, orphan.frozen._trial_id
        if orphan.run_id is None:
            self._heartbeats.discard(trial_id)
            self._tell(trial, "failed", reason=NEVER_STARTED, requeue_as=NEVER_STARTED)
            self.echo(f"trial {number} failed: {NEVER_STARTED}; queued again")
            return
        handle, status = attach_job(self.runner, orphan)
        if handle is None:
            self._heartbeats.discard(trial_id)
            retry = attempt_of(trial) <= self.ctx.spec.retries
            self._tell(trial, "failed", reason=status, run_id=orphan.run_id, retry=retry)
            self.echo(f"trial {number} failed: {status}" + ("; queued again" if retry else ""))
            return
        trial.set_user_attr(names.ATTR_JOB_ID, str(handle.job_id))
        with contextlib.suppress(Exception):  # a courtesy for the UI; the attrs hold it too
            self.ctx.mlflow.set_tag(orphan.run_id, names.TAG_ADOPTED, orphan.previous)
        values = dict(orphan.frozen.params)
        self.active[number] = _Active(trial, trial_id, handle, values, orphan.last_reported)
        self._event(number, "adopted")
        self.result.adopted.append(number)
        self.echo(f"trial {number} adopted: job {handle.job_id} is {status} (run {handle.run_id})")

    def _kill_unstarted(self, trial: optuna.Trial) -> None:
        """Ctrl-C while a trial was being prepared: its run, if any, was ended by start_run."""
        with sigint_deferred(self.echo), contextlib.suppress(Exception):
            reason = "stopped by Ctrl-C before its job started"
            self._tell(trial, "killed", reason=reason, requeue_as="killed by Ctrl-C")
            self.echo(f"trial {trial.number} killed")

    def _fail_to_start(self, trial: optuna.Trial, err: Exception) -> None:
        why = err if isinstance(err, RmsweepError) else f"{type(err).__name__}: {err}"
        reason = f"did not start: {why}"
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
            pause_point("job-running", number)
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
        pause_point("before-tell", number)
        values, reason = job_outcome(self.ctx, active.handle, status, lambda: self._report(active))
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

    def _tell(self, trial: optuna.Trial, state: str, **how: Any) -> None:
        """End a trial in both records (``tell_trial``, which names ``how``'s keys: values,
        reason, run_id, retry, requeue_as) and note its outcome."""
        tell_trial(self.ctx, trial, state, **how)
        self.result.outcomes[trial.number] = state

    def _close(self, active: _Active) -> None:
        """The slot is free again: no more heartbeats for the trial."""
        self._heartbeats.discard(active.trial_id)
        self.active.pop(active.trial.number, None)
        self._event(active.trial.number, "told")

    def _record_best(self) -> None:
        record_best(self.ctx, self.echo)

    # --- stopping ----------------------------------------------------------------------------
    def _kill_all(self, why: str) -> None:
        """Ctrl-C or a stop signal (``why``): stop every running job, mark its trial and run
        killed, queue it again."""
        if not self.active:
            return
        self.echo(f"stopping {len(self.active)} running trial(s)…")
        actives = list(self.active.values())
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(actives)) as pool:
            stops = {a.trial.number: pool.submit(a.handle.stop, "killed") for a in actives}
        for active in actives:
            number = active.trial.number
            error = stops[number].exception()
            reason = why + (f" (stop failed: {error})" if error else "")
            try:
                self._tell(
                    active.trial,
                    "killed",
                    reason=reason,
                    run_id=active.handle.run_id,
                    requeue_as=f"killed: {why}",
                )
            except Exception as err:  # keep stopping the others
                self.result.outcomes[number] = "killed"
                self.echo(f"trial {number}: could not record the kill: {err}")
            self._close(active)
            self.echo(f"trial {number} killed")

    def _event(self, trial: int, kind: str) -> None:
        self.result.events.append(Event(trial, kind, time.time()))
