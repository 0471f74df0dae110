"""Where one tiny CPU trial spends its time: each phase of its life, from the config to the end.

Runs one training run the way ``rmsweep run train`` does (``rmsweep.run``: preflight,
``start_run``, ``wait`` with the CLI's progress reader, the launcher closed at the end; the
launcher is kept open until the job's logs are read), on ``device=cpu model=tiny
data=synthetic trainer=grpo_tiny trainer.total_steps=4 trainer.test_freq=2`` unless overridden
(Hydra overrides on the command line replace these by key). Nothing in rmsweep is changed;
the phases are read from what the run records anyway:

- the benchmark's own clock around rmsweep's calls (compose, preflight, inputs, MLflow
  record, local Ray head start, submit, the controller noticing the end, closing);
- the Ray job supervisor's log (job RUNNING, entrypoint exit) and ``JobDetails.end_time``;
- the job's log, tailed every 0.1 s: lines that carry their own timestamp (veRL's logger,
  Ray's) are placed by it, the others (``print``) by the time they appeared (≤ 0.1 s late);
- MLflow: each step's ``timing_s/*`` (veRL's own timers) and the time each step's metrics
  were logged, the step-0 validation's log time, the run's end time, and the time the
  ``config/verl.yaml`` artifact was written (veRL's tracker opening the run, just before
  the step-0 validation).

Also printed: each step's timers, and where the CPU went: every second the benchmark lists
its descendant processes (the local head; through its job supervisor, the job, the Ray it
starts and that Ray's workers) with the CPU seconds each has used (OMP_NUM_THREADS too).

The run happens in a temporary RMSWEEP_HOME (``--home`` to use another), but the tiny model
comes from the model cache of the default home (``--model-cache``; ``none`` builds it in the
temporary home): the inputs are prepared once *before* the trial, and a model build there
is timed and printed apart, never counted in the trial. Targets (issue 11, 2 cores): trial
start-up (job submit → first training step) ≤ 25 s, a step at batch 32 × n 8 ≤ 4 s.

Run: .venv/bin/python benchmarks/trial_phases.py [overrides…] [--json PATH]
     [--baseline PATH] [--home DIR] [--model-cache DIR|none]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

REPO = Path(__file__).resolve().parents[1]
JOB_MODULE = "rmsweep.job"  # the job's entrypoint module (rmsweep.verl.JOB_MODULE)
DEFAULTS = [
    "device=cpu",
    "model=tiny",
    "data=synthetic",
    "trainer=grpo_tiny",
    "trainer.total_steps=4",
    "trainer.test_freq=2",
]
STARTUP_TARGET_S = 25.0
STEP_TARGET_S = 4.0
TAIL_EVERY_S = 0.1
CENSUS_EVERY_S = 1.0
CENSUS_ROWS = 14
UNTITLED = ("setup_worker.py", "default_worker.py")  # Ray workers before their actor's title
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3})")
_HF_SERVER = re.compile(
    r"hf rollout server \d+: (\d+) requests in (\d+) batch\(es\), largest \d+, "
    r"([\d.]+) s generating"
)

# (marker, the phase that ends at it, how its end is measured). A missing marker merges its
# phase into the next one. "steps" is the training loop, split by veRL's timers below.
PHASES: list[tuple[str, str, str]] = [
    ("composed", "compose the config (Hydra, warm)", "clock"),
    ("preflight", "preflight checks", "clock"),
    ("inputs", "prepare inputs (data + tiny model: cache hits)", "clock"),
    ("recorded", "record the MLflow run (params, artifacts, prompt)", "clock"),
    ("submit_called", "build the job spec and env", "clock"),
    ("head_started", "local Ray head start (first job of a controller)", "clock"),
    ("submitted", "submit the job (HTTP)", "clock"),
    ("running", "job submit → RUNNING (supervisor actor)", "Ray job supervisor log stamp"),
    (
        "ray_init_called",
        "job process: Python, imports (torch, veRL), veRL's Hydra config",
        "job log: 'ray init kwargs' seen (≤0.1 s late)",
    ),
    (
        "ray_started",
        "Ray inside the job (ray.init: joins the local head, else starts a Ray)",
        "Ray log stamp",
    ),
    (
        "data_ready",
        "TaskRunner actor, TransferQueue, tokenizer, data loader",
        "veRL log stamp 'Total training steps'",
    ),
    ("pool_ready", "resource pool (placement group)", "veRL log stamp 'worker group kwargs'"),
    ("workers_spawned", "spawn the trainer worker", "veRL log stamp 'create worker group'"),
    (
        "model_ready",
        "worker and model init (FSDP actor; ref when used)",
        "veRL log stamp 'actor and ref model engine initialized'",
    ),
    ("reward_ready", "reward-loop workers", "veRL log stamp 'reward loop manager initialized'"),
    (
        "rollout_ready",
        "rollout server up (hf server actor, model load)",
        "veRL log stamp 'checkpoint engine manager initialized'",
    ),
    ("init_done", "replicas to sleep, checkpoint load", "veRL log stamp 'all initialize finished'"),
    (
        "tracker_ready",
        "initial weight sync, agent-loop workers, MLflow tracker",
        "mtime of the run's config/verl.yaml (veRL's tracker opening the run)",
    ),
    ("val0_logged", "step-0 validation", "MLflow time of the step-0 val metric"),
    ("steps_done", "training steps", "MLflow time of each step's metrics"),
    (
        "verl_exited",
        "teardown: veRL's trainer and its Ray shut down",
        "job log: 'veRL exited' seen (≤0.1 s late)",
    ),
    (
        "model_saved",
        "teardown: checkpoint export + artifact",
        "job log: 'trained model saved' seen (≤0.1 s late)",
    ),
    ("entrypoint_exit", "teardown: job entrypoint exits", "Ray job supervisor log stamp"),
    ("job_end", "teardown: Ray records the job's end", "Ray JobDetails.end_time"),
    ("noticed", "job end → controller notices (polls every 0.5 s)", "clock (handle.finish called)"),
    ("run_ended", "finish the run (job log artifact, tags, end)", "MLflow run end_time"),
    ("head_stopped", "stop the local Ray head", "clock"),
]
# Markers read from the job's log: (marker, text in the line, use the line's own stamp).
LOG_MARKERS = [
    ("ray_init_called", "ray init kwargs:", False),
    ("ray_started", "Started a local Ray instance", True),  # a private Ray (another cluster)
    ("ray_started", "Connected to Ray cluster", True),  # CPU jobs on the local head
    ("data_ready", "Total training steps:", True),
    ("pool_ready", "worker group kwargs:", True),
    ("workers_spawned", "create worker group", True),
    ("model_ready", "actor and ref model engine initialized", True),
    ("reward_ready", "reward loop manager initialized", True),
    ("rollout_ready", "checkpoint engine manager initialized", True),
    ("init_done", "all initialize finished", True),
    ("verl_exited", "rmsweep: veRL exited", False),
    ("model_saved", "rmsweep: trained model saved to", False),
]
# veRL's timers inside a step (timing_s/<key>), in the order they run.
COMPONENTS = [
    ("gen", "gen (rollout: agent loop, hf generate, reward)"),
    ("reward", "reward (colocated)"),
    ("old_log_prob", "old log-prob"),
    ("ref", "ref log-prob"),
    ("values", "critic values"),
    ("adv", "advantage"),
    ("update_critic", "critic update"),
    ("update_actor", "actor update"),
    ("save_checkpoint", "checkpoint save"),
    ("update_weights", "weight sync → rollout server"),
]


@dataclass
class Marks:
    """Epoch seconds of each marker and how it was taken."""

    at: dict[str, float] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, when: float | None, how: str | None = None) -> None:
        if when is not None and key not in self.at:
            self.at[key] = when
            if how:
                self.how[key] = how


class LogTail(threading.Thread):
    """Tail a file that may not exist yet; keep (time seen, line) for every line."""

    def __init__(self, find: Callable[[], Path | None]) -> None:
        super().__init__(daemon=True)
        self._find = find
        self._halt = threading.Event()
        self.lines: list[tuple[float, str]] = []
        self._offset = 0
        self._partial = ""

    def run(self) -> None:
        while not self._halt.is_set():
            self.read()
            self._halt.wait(TAIL_EVERY_S)

    def read(self) -> None:
        path = self._find()
        if path is None:
            return
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except OSError:
            return
        now = time.time()
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        self.lines.extend((now, line) for line in complete)

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:  # started
            self.join(timeout=5)
        self.read()
        if self._partial:
            self.lines.append((time.time(), self._partial))
            self._partial = ""


@dataclass
class Proc:
    """One process of the trial, as last sampled."""

    label: str
    ppid: int
    created: float
    cpu_s: float
    omp: str


class Census(threading.Thread):
    """Every ``CENSUS_EVERY_S``: the launcher's processes (the local head's, and through it
    the job's: they carry its marker) and the CPU seconds each has used so far."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        super().__init__(daemon=True)
        self._pids = pids
        self._halt = threading.Event()
        self.procs: dict[tuple[int, float], Proc] = {}

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(Exception):  # a census is not worth failing a trial for
                self.sample()
            self._halt.wait(CENSUS_EVERY_S)

    def sample(self) -> None:
        import psutil

        for pid in self._pids():
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    key = (pid, proc.create_time())
                    times = proc.cpu_times()
                    cpu = times.user + times.system
                    if key not in self.procs:
                        omp = proc.environ().get("OMP_NUM_THREADS", "-")
                        self.procs[key] = Proc(label(proc.cmdline()), proc.ppid(), key[1], cpu, omp)
                    entry = self.procs[key]
                    entry.cpu_s = cpu
                    # A Ray worker takes its actor's title (ray::Name) only once it has one.
                    if entry.label in UNTITLED or entry.label.endswith("IDLE"):
                        entry.label = label(proc.cmdline())
            except (psutil.Error, OSError):
                continue

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=10)


def label(cmdline: list[str]) -> str:
    """A short name for a process: a Ray worker's title, a module, a script or a binary."""
    if not cmdline:
        return "?"
    first = cmdline[0]
    if first.startswith("ray::"):
        return first.split()[0].split(".")[0]
    if "-m" in cmdline[:-1]:
        return cmdline[cmdline.index("-m") + 1]
    scripts = [Path(a).name for a in cmdline[1:3] if a.endswith(".py")]
    return scripts[0] if scripts else Path(first).name


def census_rows(census: Census, job_root: int | None) -> list[tuple[str, int, float, str]]:
    """(side and label, processes, CPU seconds, OMP_NUM_THREADS seen), most CPU first."""
    by_pid = {pid: proc for (pid, _), proc in census.procs.items()}

    def side(pid: int) -> str:
        seen = set()
        while pid in by_pid and pid not in seen:
            if pid == job_root:
                return "job"
            seen.add(pid)
            pid = by_pid[pid].ppid
        return "head"

    groups: dict[str, list[Proc]] = {}
    for (pid, _), proc in census.procs.items():
        groups.setdefault(f"{side(pid)}: {proc.label}", []).append(proc)
    rows = [
        (name, len(procs), sum(p.cpu_s for p in procs), ",".join(sorted({p.omp for p in procs})))
        for name, procs in groups.items()
    ]
    return sorted(rows, key=lambda r: -r[2])


def stamp(line: str) -> float | None:
    """Epoch seconds of the first ``YYYY-MM-DD HH:MM:SS,mmm`` (local time) in a log line."""
    found = _STAMP.search(line)
    if found is None:
        return None
    when = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
    return when.timestamp() + int(found.group(2)) / 1000


def merge_overrides(defaults: list[str], given: list[str]) -> list[str]:
    """The defaults, less any key the user set, then the user's overrides."""

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    taken = {key(o) for o in given}
    return [o for o in defaults if key(o) not in taken] + list(given)


@contextlib.contextmanager
def wrapped(
    owner: Any, name: str, before: Callable[[], None] | None, after: Callable[[Any], None] | None
) -> Iterator[None]:
    """Call ``before()`` / ``after(result)`` around ``owner.name`` while inside."""
    original = getattr(owner, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before()
        result = original(*args, **kwargs)
        if after is not None:
            after(result)
        return result

    setattr(owner, name, call)
    try:
        yield
    finally:
        if isinstance(owner, type) or hasattr(owner, "__file__"):
            setattr(owner, name, original)
        else:  # an instance attribute shadowing the class's method
            with contextlib.suppress(AttributeError):
                delattr(owner, name)


def session_log(job_id: str, *parts: str) -> Path | None:
    """A file in the local head's session logs (its temp dir is /tmp/rmsray-*)."""
    found = sorted(Path("/tmp").glob(f"rmsray-*/session_latest/logs/{'/'.join(parts)}"))
    return found[0] if found else None


def prepare_before(cfg: Any) -> dict[str, Any]:
    """Prepare the run's inputs once, before the trial, timing a tiny-model build apart."""
    import rmsweep.tiny_model as tiny_model
    from rmsweep import record

    built: dict[str, Any] = {}
    with wrapped(
        tiny_model, "build_tiny_model", None, lambda m: built.update(cache_hit=m.cache_hit)
    ):
        started = time.perf_counter()
        record.prepare_inputs(cfg)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "model_cache_hit": built.get("cache_hit")}


def run_trial(cfg: Any, overrides: list[str], marks: Marks) -> dict[str, Any]:
    """``rmsweep run train``'s path (rmsweep.run.train), with marks around its calls."""
    from rmsweep import names, preflight, record
    from rmsweep.cli.run import RunProgress
    from rmsweep.run import make_launcher, start_run, wait
    from rmsweep.signals import signals_as_interrupt

    now = time.time
    job_id = ""
    tail = LogTail(lambda: session_log(job_id, f"job-driver-{job_id}.log") if job_id else None)
    found: dict[str, Any] = {}

    def submitted(result: str) -> None:
        nonlocal job_id
        marks.set("submitted", now())
        job_id = result
        tail.start()

    census = Census(_descendants)
    census.start()
    own_cpu = _own_cpu()
    with contextlib.ExitStack() as stack:
        stack.enter_context(signals_as_interrupt())
        stack.callback(census.stop)
        launcher = stack.enter_context(make_launcher(cfg))
        stack.enter_context(
            wrapped(record, "prepare_inputs", None, lambda _: marks.set("inputs", now()))
        )
        stack.enter_context(wrapped(record, "record", None, lambda _: marks.set("recorded", now())))
        stack.enter_context(
            wrapped(launcher, "submit", lambda: marks.set("submit_called", now()), submitted)
        )
        head = getattr(launcher, "_head", None)  # the local head, when cluster=local
        if head is not None:
            stack.enter_context(
                wrapped(head, "start", None, lambda _: marks.set("head_started", now()))
            )
        preflight.check_run(cfg, launcher)
        marks.set("preflight", now())
        progress = stack.enter_context(RunProgress())

        def on_poll(handle: Any, status: str) -> None:
            if status == names.JOB_RUNNING:
                found.setdefault("running_polled", now())
            progress(handle, status)

        handle = start_run(cfg, overrides=overrides, launcher=launcher)
        stack.enter_context(wrapped(handle, "finish", lambda: marks.set("noticed", now()), None))
        try:
            result = wait(handle, on_poll=on_poll)
            marks.set("run_ended_clock", now())
        finally:
            tail.stop()
            census.stop()
        found["controller_cpu_s"] = _own_cpu() - own_cpu
        found["census"] = census
        found["result"] = result
        found["tail"] = tail.lines
        found["job_id"] = job_id
        found["supervisor"] = _read(session_log(job_id, "jobs", f"supervisor-{job_id}.log"))
        with contextlib.suppress(Exception):
            info = launcher._client().get_job_info(job_id)  # JobDetails: no public reader
            found["job_start_ms"], found["job_end_ms"] = info.start_time, info.end_time
        stack.close()  # the launcher closes: the local head stops
        marks.set("head_stopped", now())
    return found


def _descendants() -> list[int]:
    """This process's descendants: the local head (the guard is our child) and, through
    its job supervisor, the job, its Ray and that Ray's workers."""
    import psutil

    return [p.pid for p in psutil.Process().children(recursive=True)]


def _own_cpu() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def _read(path: Path | None) -> str:
    return path.read_text(errors="replace") if path is not None else ""


def read_job_log(found: dict[str, Any], marks: Marks) -> list[tuple[int, int, float]]:
    """Markers from the job's log and supervisor log; the hf server's per-sleep lines."""
    for line in found["supervisor"].splitlines():
        if "Submitting job with RAY_ADDRESS" in line:
            marks.set("running", stamp(line), "Ray job supervisor log stamp")
        elif "entrypoint command exited with code" in line:
            marks.set("entrypoint_exit", stamp(line), "Ray job supervisor log stamp")
    if "running_polled" in found:
        marks.set("running", found["running_polled"], "controller poll (≤2 s late)")
    served = []
    for seen, line in found["tail"]:
        for key, text, own_stamp in LOG_MARKERS:
            if text in line:
                when = stamp(line) if own_stamp else None
                late = own_stamp and when is None  # expected a stamp, found none
                how = "job log: line seen, no stamp (≤0.1 s late)" if late else None
                marks.set(key, when if when is not None else seen, how)
        hf = _HF_SERVER.search(line)
        if hf:
            served.append((int(hf.group(1)), int(hf.group(2)), float(hf.group(3))))
    if found.get("job_end_ms"):
        marks.set("job_end", found["job_end_ms"] / 1000)
    return served


def read_mlflow(cfg: Any, run_id: str, marks: Marks) -> dict[int, dict[str, float]]:
    """Per step: veRL's timing_s/* and the time its metrics were logged (``logged_at``)."""
    from rmsweep import names
    from rmsweep.tracking import tracking_client

    client = tracking_client(cfg.tracking.uri)
    run = client.get_run(run_id)
    steps: dict[int, dict[str, float]] = {}
    for key in run.data.metrics:
        if not key.startswith("timing_s/"):
            continue
        for point in client.get_metric_history(run_id, key):
            if point.step < 1:  # training steps count from 1; step 0 is the validation
                continue
            entry = steps.setdefault(point.step, {})
            entry[key.removeprefix("timing_s/")] = point.value
            entry["logged_at"] = point.timestamp / 1000
    val_key = names.metric_key("val/acc", cfg.data.name)
    val0 = [p for p in client.get_metric_history(run_id, val_key) if p.step == 0]
    if val0:
        marks.set("val0_logged", val0[0].timestamp / 1000)
    artifact = urlparse(run.info.artifact_uri)
    if artifact.scheme in ("", "file"):
        verl_yaml = Path(unquote(artifact.path)) / names.VERL_CONFIG_ARTIFACT
        if verl_yaml.exists():
            marks.set("tracker_ready", verl_yaml.stat().st_mtime)
    if steps:
        marks.set("steps_done", max(s["logged_at"] for s in steps.values()))
    if run.info.end_time:
        marks.set("run_ended", run.info.end_time / 1000, "MLflow run end_time")
    marks.set("run_ended", marks.at.get("run_ended_clock"), "clock (wait returned)")
    return steps


@dataclass
class Row:
    phase: str
    seconds: float
    per_step: str = ""
    how: str = ""
    indent: bool = False


def phase_rows(marks: Marks, steps: dict[int, dict[str, float]]) -> list[Row]:
    """One row a phase, the training loop split into veRL's timers."""
    rows: list[Row] = []
    previous = marks.at["begin"]
    pending: list[str] = []
    for key, label, how in PHASES:
        when = marks.at.get(key)
        if when is None:
            pending.append(label)
            continue
        seconds = max(0.0, when - previous)
        note = marks.how.get(key, how)
        if when < previous:
            note += f"; {previous - when:.2f} s before the previous mark: 0 shown"
        if pending:
            note += f"; includes {', '.join(pending)} (not seen)"
        pending = []
        if key == "steps_done" and steps:
            rows.append(Row(f"training steps ({len(steps)})", seconds, how="sum of the rows below"))
            rows.extend(step_rows(steps, marks.at.get("val0_logged", previous)))
        else:
            rows.append(Row(label, seconds, how=note))
        previous = max(previous, when)
    return rows


def step_rows(steps: dict[int, dict[str, float]], before_first: float) -> list[Row]:
    ordered = [steps[k] for k in sorted(steps)]
    rows = []
    for key, label in COMPONENTS:
        values = [s[key] for s in ordered if key in s]
        if values:
            rows.append(_component(label, values, len(ordered), "veRL timing_s/" + key))
    inside = [s.get("step", 0.0) - sum(s.get(k, 0.0) for k, _ in COMPONENTS) for s in ordered]
    rows.append(
        _component(
            "rest of the step (batch submit, balance, …)",
            inside,
            len(ordered),
            "timing_s/step − the timers above",
        )
    )
    testing = [s["testing"] for s in ordered if "testing" in s]
    if testing:
        rows.append(_component("testing (validation)", testing, len(ordered), "timing_s/testing"))
    gaps, previous = [], before_first
    for s in ordered:
        gaps.append(s["logged_at"] - previous - s.get("step", 0.0) - s.get("testing", 0.0))
        previous = s["logged_at"]
    rows.append(
        _component(
            "between steps: metrics, MLflow log, loop",
            gaps,
            len(ordered),
            "log-to-log time − step − testing",
        )
    )
    return rows


def _component(label: str, values: list[float], n_steps: int, how: str) -> Row:
    times = "" if len(values) == n_steps else f" (×{len(values)})"
    return Row(label, sum(values), f"{statistics.mean(values):.2f}{times}", how, indent=True)


def totals(marks: Marks, steps: dict[int, dict[str, float]]) -> dict[str, float]:
    at = marks.at
    out: dict[str, float] = {"wall": at["head_stopped"] - at["begin"]}
    if 1 in steps and "submit_called" in at:
        first = steps[1]
        step1_start = first["logged_at"] - first.get("step", 0.0) - first.get("testing", 0.0)
        out["startup"] = step1_start - at["submit_called"]
        out["startup_from_command"] = step1_start - at["begin"]
        if "head_started" in at:
            out["head_start"] = at["head_started"] - at["submit_called"]
    step_s = [s["step"] for s in steps.values() if "step" in s]
    if step_s:
        out["step_mean"] = statistics.mean(step_s)
        later = [steps[k]["step"] for k in sorted(steps)[1:] if "step" in steps[k]]
        if later:
            out["step_mean_after_first"] = statistics.mean(later)
    return out


def print_report(
    rows: list[Row],
    per_step: dict[int, dict[str, float]],
    sums: dict[str, float],
    served: list[tuple[int, int, float]],
    census: list[tuple[str, int, float, str]],
    cfg: Any,
    baseline: dict[str, Any] | None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    before = {r["phase"]: r["seconds"] for r in (baseline or {}).get("phases", [])}
    table = Table(title="trial phases", title_justify="left")
    table.add_column("phase")
    table.add_column("s", justify="right")
    table.add_column("share", justify="right")
    table.add_column("per step", justify="right")
    if baseline:
        table.add_column("before", justify="right")
        table.add_column("÷ before", justify="right")
    table.add_column("measured by (end of phase)", style="dim")
    total = sums["wall"]
    for row in rows:
        cells = [
            ("  " if row.indent else "") + row.phase,
            f"{row.seconds:.2f}",
            f"{row.seconds / total:.1%}",
            row.per_step,
        ]
        if baseline:
            old = before.get(row.phase)
            cells += [f"{old:.2f}" if old is not None else "", _ratio(row.seconds, old)]
        style = "dim" if row.indent and row.seconds / total < 0.01 else None
        table.add_row(*cells, row.how, style=style)
    table.add_section()
    table.add_row(
        "total (compose → head stopped)",
        f"{total:.2f}",
        "100.0%",
        "",
        *(["", ""] if baseline else []),
        "clock",
    )
    console.print(table)

    keys = [k for k, _ in COMPONENTS if any(k in s for s in per_step.values())]
    known = {*keys, "step", "testing", "logged_at"}
    extra = sorted({k for s in per_step.values() for k in s} - known)
    steps_table = Table(title="each step (veRL timing_s/*, seconds)", title_justify="left")
    for name in ["step", "timing_s/step", *keys, "testing"]:
        steps_table.add_column(name, justify="right")
    for number in sorted(per_step):
        s = per_step[number]
        steps_table.add_row(
            str(number),
            f"{s.get('step', 0.0):.2f}",
            *(f"{s[k]:.2f}" if k in s else "" for k in keys),
            f"{s['testing']:.2f}" if "testing" in s else "",
        )
    console.print(steps_table)
    if extra:
        print(
            "other veRL timers (may overlap the ones above; not in the table): "
            + ", ".join(
                f"{k} {statistics.mean(s[k] for s in per_step.values() if k in s):.2f} s/step"
                for k in extra
            )
        )

    if census:
        cores = os.cpu_count() or 1
        used = sum(r[2] for r in census)
        cpu_table = Table(
            title=f"CPU by process (sampled every {CENSUS_EVERY_S:g} s; {used:.0f} CPU s = "
            f"{used / (sums['wall'] * cores):.0%} of {cores} cores over the trial)",
            title_justify="left",
        )
        for name in (
            "process (head: local Ray head; job: under rmsweep.job)",
            "n",
            "CPU s",
            "share",
            "OMP_NUM_THREADS",
        ):
            cpu_table.add_column(name, justify="left" if name.startswith("proc") else "right")
        for name, count, cpu, omp in census[:CENSUS_ROWS]:
            cpu_table.add_row(name, str(count), f"{cpu:.1f}", f"{cpu / used:.1%}", omp)
        rest = census[CENSUS_ROWS:]
        if rest:
            cpu = sum(r[2] for r in rest)
            cpu_table.add_row(
                f"{len(rest)} others",
                str(sum(r[1] for r in rest)),
                f"{cpu:.1f}",
                f"{cpu / used:.1%}",
                "",
            )
        console.print(cpu_table)
    t = cfg.trainer
    shape = f"batch {t.train_batch_size} × n {t.rollout_n}"
    train_lines = [g for n, _, g in served if n == t.train_batch_size * t.rollout_n]
    if train_lines:
        print(
            f"hf server, rollout-only phases: {statistics.mean(train_lines):.2f} s of "
            f"model.generate per step ({len(train_lines)} steps, server log)"
        )
    base_totals = (baseline or {}).get("totals", {})
    if "startup" in sums:
        print(
            f"trial start-up (job submit → first training step): {sums['startup']:.1f} s = "
            f"{sums['startup'] / STARTUP_TARGET_S:.2f}x the {STARTUP_TARGET_S:g} s target"
            + _versus(sums["startup"], base_totals.get("startup"))
            + (
                f"; the local Ray head's start is {sums['head_start']:.1f} s of it"
                if "head_start" in sums
                else ""
            )
            + f"; from the command: {sums['startup_from_command']:.1f} s"
        )
    if "step_mean" in sums:
        later = sums.get("step_mean_after_first")
        print(
            f"mean step ({shape}): {sums['step_mean']:.2f} s = "
            f"{sums['step_mean'] / STEP_TARGET_S:.2f}x the {STEP_TARGET_S:g} s target"
            + _versus(sums["step_mean"], base_totals.get("step_mean"))
            + (f"; without step 1: {later:.2f} s" if later is not None else "")
            + " (timing_s/step: validation not included)"
        )
    print(
        f"the trial, compose → local Ray head stopped: {sums['wall']:.1f} s"
        + _versus(sums["wall"], base_totals.get("wall"))
    )


def _ratio(new: float, old: float | None) -> str:
    return f"{new / old:.2f}x" if old else ""


def _versus(new: float, old: float | None) -> str:
    return f" ({new / old:.2f}x the baseline's {old:.1f} s)" if old else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides (replace the defaults by key)"
    )
    parser.add_argument("--json", type=Path, help="save the figures here")
    parser.add_argument("--baseline", type=Path, help="an earlier --json: print ratios against it")
    parser.add_argument("--home", type=Path, help="RMSWEEP_HOME to use (default: a temporary one)")
    parser.add_argument(
        "--model-cache",
        default=None,
        help="tiny-model cache to reuse (default: the default home's models/); 'none': build",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    overrides = merge_overrides(DEFAULTS, args.overrides)
    default_home = Path(os.environ.get("RMSWEEP_HOME", REPO / ".rmsweep")).expanduser()
    cache = (
        None if args.model_cache == "none" else Path(args.model_cache or default_home / "models")
    )
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None

    with contextlib.ExitStack() as stack:
        if args.home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rmsweep-phases-")))
            if os.environ.pop("MLFLOW_TRACKING_URI", None):
                print("MLFLOW_TRACKING_URI ignored: the run goes to the temporary home")
            if cache is not None:
                cache.mkdir(parents=True, exist_ok=True)
                (home / "models").symlink_to(cache.resolve(), target_is_directory=True)
        else:
            home = args.home
        os.environ["RMSWEEP_HOME"] = str(home)
        print(f"overrides: {' '.join(overrides)}")
        print(
            f"RMSWEEP_HOME {home}; tiny-model cache: "
            f"{cache if cache is not None and args.home is None else home / 'models'}"
        )

        from rmsweep.config import compose

        warm = prepare_before(compose(overrides))
        hit = warm["model_cache_hit"]
        print(
            f"inputs prepared before the trial in {warm['seconds']:.1f} s (not counted): "
            + (
                "tiny model from the cache"
                if hit
                else "tiny model BUILT"
                if hit is False
                else "model given by path"
            )
        )
        marks = Marks()
        marks.set("begin", time.time())
        cfg = compose(overrides)
        marks.set("composed", time.time())
        found = run_trial(cfg, overrides, marks)
        result = found["result"]
        served = read_job_log(found, marks)
        per_step = read_mlflow(cfg, result.run_id, marks)

    rows = phase_rows(marks, per_step)
    sums = totals(marks, per_step)
    job_root = next(
        (pid for (pid, _), p in found["census"].procs.items() if p.label == JOB_MODULE), None
    )
    census = census_rows(found["census"], job_root)
    census.insert(0, ("controller: this process", 1, found["controller_cpu_s"], "-"))
    print(
        f"run {result.run_id} (job {found['job_id']}): {result.state}"
        + (f" ({result.reason})" if result.reason else "")
    )
    print_report(rows, per_step, sums, served, census, cfg, baseline)
    bench_s = time.perf_counter() - started
    print(f"benchmark wall time: {bench_s:.0f} s")
    if args.json:
        figures = {
            "overrides": overrides,
            "state": result.state,
            "inputs_before_trial": warm,
            "phases": [
                {
                    "phase": r.phase,
                    "seconds": r.seconds,
                    "share": r.seconds / sums["wall"],
                    "per_step": r.per_step,
                    "measured_by": r.how,
                    "in_steps": r.indent,
                }
                for r in rows
            ],
            "steps": {str(k): v for k, v in sorted(per_step.items())},
            "hf_server_lines": served,
            "totals": sums,
            "cpu_by_process": census,
            "targets": {"startup": STARTUP_TARGET_S, "step": STEP_TARGET_S},
            "marks": {k: [v, marks.how.get(k, "")] for k, v in marks.at.items()},
            "job_log": found["tail"],  # [time seen, line]
            "benchmark_wall_s": bench_s,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures saved to {args.json}")
    if result.state != "complete":
        sys.exit(1)


if __name__ == "__main__":
    main()
