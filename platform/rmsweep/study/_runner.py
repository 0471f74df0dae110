"""What runs a trial: a small protocol, and its production implementation on veRL.

The controller never composes configs or talks to Ray itself: it hands a trial's overrides
to a :class:`TrialRunner` and polls the :class:`TrialHandle` it gets back. Production is
:class:`VerlTrialRunner` (compose the config, ``run.start_run``: an MLflow child run and a
veRL job through the launcher); ``rmsweep.testing.SleepJobRunner`` stands in for
training when only the controller is measured or tested.

The controller owns a trial run's end: a handle's ``stop`` and ``finish`` end the job and
report how the run should end, and the controller ends the run after it told Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from rmsweep.run import RunResult


class TrialHandle(Protocol):
    """A started trial (``rmsweep.run.RunHandle`` is one)."""

    run_id: str
    job_id: str
    # Optional: the step of the run's last validation. A trial that reached it is not pruned
    # (its result is in; the job is only tearing down). ``RunHandle`` has ``cfg`` instead.

    def poll(self) -> str:
        """The job's state: one of ``names.JOB_STATUSES``."""
        ...

    def history(self, metric: str) -> list[tuple[int, float]]:
        """``(step, value)`` pairs of a metric (short name or full key), by step."""
        ...

    def stop(self, state: str = "killed") -> RunResult:
        """Stop the job; the run is to end ``killed`` or ``pruned`` (the controller ends it)."""
        ...

    def finish(self) -> RunResult:
        """After the job ended: attach what the job left (its log) to the run, and return the
        run's logged metrics; the controller decides the end state and ends the run."""
        ...


class TrialRunner(Protocol):
    """Starts trials. ``start`` returns once the MLflow run exists and the job is submitted.

    A runner may also have ``config_digest(overrides) -> str | None``: what two trials share
    when they would train the same thing (the controller then tells the first's value again).
    """

    def start(
        self,
        overrides: Sequence[str],
        *,
        tags: Mapping[str, str],
        parent_run_id: str,
    ) -> TrialHandle:
        """Start one trial with these Hydra overrides (on top of the study's base)."""
        ...

    def attach(self, overrides: Sequence[str], *, run_id: str, job_id: str | None) -> TrialHandle:
        """A handle on a trial another (dead) controller started: its job may still run.

        Raises:
            LaunchError: the job cannot be reached (the reason says why).
        """
        ...

    def free_slots(self) -> int | None:
        """How many trials fit on the cluster now (None: unknown, the spec decides; 0: not
        one, so the one trial that runs fails with the reason it cannot be placed)."""
        ...

    def close(self) -> None:
        """Release what the runner started (a local Ray head)."""
        ...


class VerlTrialRunner:
    """Production: compose base + trial overrides, then ``rmsweep.run.start_run``.

    Args:
        base: the study's base overrides (spec ``base`` + command-line overrides).
        launcher: a ``rmsweep.launch.RayLauncher``; built from the base config when None
            (a local Ray head started on demand, or the cluster's address).
        base_cfg: ``base`` composed, when the caller has it already (composed here if None).
        swept_keys: the study's space keys: one a trial leaves out (a condition) is not
            logged as its param.
    """

    def __init__(
        self,
        base: Sequence[str],
        launcher: Any | None = None,
        *,
        base_cfg: DictConfig | None = None,
        swept_keys: Sequence[str] = (),
    ) -> None:
        self.base = list(base)
        self.swept_keys = list(swept_keys)
        self._base_cfg = base_cfg
        self._launcher = launcher
        self._owns_launcher = launcher is None
        # Trials at once: a local head for CPU trials is sized for them (set before the first
        # start; the study sets its slots).
        self.jobs_at_once = 1

    @property
    def base_cfg(self) -> DictConfig:
        if self._base_cfg is None:
            from rmsweep.config import compose

            self._base_cfg = compose(self.base)
        return self._base_cfg

    @property
    def launcher(self) -> Any:
        if self._launcher is None:
            from rmsweep.run import make_launcher

            self._launcher = make_launcher(self.base_cfg, jobs_at_once=self.jobs_at_once)
        return self._launcher

    def start(
        self,
        overrides: Sequence[str],
        *,
        tags: Mapping[str, str],
        parent_run_id: str,
    ) -> TrialHandle:
        from rmsweep import capacity
        from rmsweep.config import compose
        from rmsweep.run import start_run

        every = [*self.base, *overrides]
        cfg = compose(every)
        # A GPU trial no nodes of the cluster could hold fails at once, with why (veRL would
        # wait for its placement group forever).
        capacity.check_job(cfg, self.launcher)
        return start_run(
            cfg,
            overrides=every,
            launcher=self.launcher,
            tags=dict(tags),
            parent_run_id=parent_run_id,
            swept=[*overrides, *(f"~{k}" for k in self.swept_keys if not _sets(overrides, k))],
            ends_run=False,
        )

    def attach(self, overrides: Sequence[str], *, run_id: str, job_id: str | None) -> TrialHandle:
        from rmsweep.config import compose
        from rmsweep.errors import LaunchError
        from rmsweep.run import RunHandle
        from rmsweep.tracking import tracking_client

        cfg = compose([*self.base, *overrides])
        if not job_id:
            raise LaunchError("its controller died before recording its job")
        if cfg.cluster.address is None:
            raise LaunchError(
                f"its job {job_id} is gone: the local Ray head died with the controller that "
                "started it (a shared cluster, cluster=ray, keeps jobs across controllers)"
            )
        client = tracking_client(cfg.tracking.uri)
        return RunHandle(
            cfg=cfg,
            run_id=run_id,
            job_id=job_id,
            launcher=self.launcher,
            client=client,
            ends_run=False,
        )

    def config_digest(self, overrides: Sequence[str]) -> str:
        """The resolved config's digest with the code, reward, template and data digests a
        run of it would record (``record.current_digests``)."""
        import hashlib
        import json

        from omegaconf import OmegaConf

        from rmsweep import record
        from rmsweep.config import compose

        cfg = compose([*self.base, *overrides])
        config = OmegaConf.to_container(cfg, resolve=True)
        digests = record.current_digests(cfg, record.prepare_inputs(cfg))
        text = json.dumps({"config": config, "digests": digests}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def free_slots(self) -> int | None:
        """How many trials the cluster's free GPUs hold now (0 when none fits now), node by
        node where the dashboard tells (``launch.node_slots``), else ⌊free ÷ per trial⌋; 1 on
        cpu (a CPU trial takes a logical GPU: of the local head, sized by ``jobs_at_once``, or
        of the private Ray it starts on another cluster)."""
        from rmsweep import capacity
        from rmsweep.launch import gpu_slots, node_slots

        shape = capacity.job_shape(self.base_cfg)
        if shape is None:
            return 1
        found = capacity.cluster_resources(self.launcher)
        if found is not None and found.gpus_free:
            return node_slots(found.gpus_free, *shape)
        return gpu_slots(cluster_resources(self.launcher).get("GPU", 0.0), shape[0] * shape[1])

    def close(self) -> None:
        if self._owns_launcher and self._launcher is not None:
            self._launcher.close()
            self._launcher = None


def _sets(overrides: Sequence[str], key: str) -> bool:
    return any(o.lstrip("+~").partition("=")[0] == key for o in overrides)


_PROBE = (
    "import json, ray; ray.init(logging_level='ERROR'); "
    "print('RMSWEEP_RESOURCES=' + json.dumps(ray.available_resources()))"
)


def final_step(handle: TrialHandle) -> int | None:
    """The step of a trial's last validation: ``handle.final_step``, else the run config's
    ``trainer.total_steps`` (veRL validates at the end), else unknown."""
    step = getattr(handle, "final_step", None)
    if step is not None:
        return int(step)
    cfg = getattr(handle, "cfg", None)
    if cfg is None:
        return None
    from omegaconf import OmegaConf

    total = OmegaConf.select(cfg, "trainer.total_steps", default=None)
    return None if total is None else int(total)


def cluster_resources(launcher: Any) -> dict[str, float]:
    """Resources free on the launcher's cluster now (``ray.available_resources``).

    Asked through the job API, like everything else: a tiny job prints them.

    Raises:
        LaunchError: the probe job failed.
    """
    import shlex
    import sys

    from rmsweep.errors import LaunchError

    python = sys.executable if getattr(launcher, "address", None) is None else "python"
    job_id = launcher.submit(shlex.join([python, "-c", _PROBE]), env={})
    status = launcher.wait(job_id, poll_s=0.5)
    logs = launcher.logs(job_id)
    for line in logs.splitlines():
        if line.startswith("RMSWEEP_RESOURCES="):
            import json

            return {k: float(v) for k, v in json.loads(line.partition("=")[2]).items()}
    raise LaunchError(
        f"could not read the cluster's free resources (probe job {status}): {logs[-300:]}"
    )


def study_slots(runner: TrialRunner, parallel: int | None) -> int:
    """Trials at once: ``parallel`` if given, else what the runner's cluster has free (≥ 1).
    A production runner sizes its local head for them (``VerlTrialRunner.jobs_at_once``)."""
    slots = parallel or runner.free_slots() or 1
    if isinstance(runner, VerlTrialRunner):
        runner.jobs_at_once = slots
    return slots
