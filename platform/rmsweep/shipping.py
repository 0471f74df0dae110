"""Jobs on hosts that cannot see this machine's disk: what they need travels with the run.

On a cluster that is not this machine's local head, and unless ``cluster.shared_dir`` names a
path every node sees, a job reads nothing of the submitting machine's disk:

- code: rmsweep, ``reward_fns/`` and ``configs/`` reach it as the job's Ray ``working_dir``
  (the checkout less :data:`EXCLUDES`; Ray honours ``.gitignore``), first on ``PYTHONPATH``
  (:func:`entrypoint`);
- inputs: the prepared train/val files, the starting model when it is a folder here, the SFT
  traces and the benchmark files are logged as the run's artifacts under ``inputs/``
  (:func:`pack`), each with its digest; the job downloads them into its working directory and
  checks every digest before training (:func:`unpack`);
- outputs: every path the job writes is under its working directory, and the trained model is
  logged as the run's ``checkpoint/`` artifact whatever its size.

Paths in the job's spec stand behind two placeholders the job replaces when it starts
(:func:`localize`): :data:`CODE_DIR`, the uploaded code (the job's working directory), and
:data:`JOB_DIR`, a folder of the run's own under it (its inputs and checkpoints), which the
job removes when it ends: jobs of the same code share the upload, never their files.

Built for CPU jobs, which run veRL inside their own process and Ray on one node. A GPU job's
veRL places workers on other nodes, which would need the inputs too: refused until built.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep.config import REPO_ROOT
from rmsweep.errors import ConfigError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from omegaconf import DictConfig

    from rmsweep.verl import JobInputs, JobSpec

CODE_DIR = "@code"  # stands for the uploaded code, the job's working directory
JOB_DIR = "@job"  # stands for the run's own folder under it (inputs, checkpoints)
RUNS = "rmsweep-runs"  # where, in the code's upload, each job makes its run's folder
INPUTS = "inputs"  # the artifact folder, and the folder the job fetches into
# Ray's working_dir upload: what the job needs of the checkout (.gitignore is honoured too).
EXCLUDES = [".git", "tests", "benchmarks", "docs", "requirements", "scripts"]


def ships(cfg: DictConfig) -> bool:
    """Whether the run's job gets its code and inputs through the run (a cluster whose head
    is on another machine, without a shared path) rather than from this machine's disk."""
    address = cfg.cluster.address
    if address is None or cfg.cluster.get("shared_dir"):
        return False
    return not on_this_machine(str(address))


def on_this_machine(address: str) -> bool:
    """A Ray address whose head runs here (``auto``, loopback): its jobs read this disk."""
    from urllib.parse import urlsplit

    host = urlsplit(address if "://" in address else f"//{address}").hostname
    return address == "auto" or host in ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Parcel:
    """One input: where it is here, its artifact path under ``inputs/``, its digest."""

    name: str  # e.g. "train.parquet", "model", "eval/rmbench/total_dataset.json"
    digest: str
    source: str = ""  # on the submitting machine; not in the job's spec
    # Already an artifact of another run (model.from_run's checkpoint): fetched from there,
    # not uploaded again.
    run: str = ""
    artifact: str = ""

    @property
    def job_path(self) -> str:
        return f"{JOB_DIR}/{INPUTS}/{self.name}"


def digest(path: Path) -> str:
    """sha256 of a file's bytes, or a folder's (``checkpoint.digest``: remembered per process,
    so a study hashes its starting model once)."""
    if path.is_dir():
        from rmsweep import checkpoint

        return checkpoint.digest(path)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def relocate(
    inputs: JobInputs, *, model_is_here: bool, model_run: tuple[str, str] | None = None
) -> tuple[JobInputs, list[Parcel]]:
    """The job's inputs as its own paths, and the parcels that carry them; ``model_run`` (a
    run id and artifact path) where the model is another run's artifact already."""
    parcels = [
        Parcel("train.parquet", digest(Path(inputs.train_file)), str(inputs.train_file)),
        Parcel("val.parquet", digest(Path(inputs.val_file)), str(inputs.val_file)),
    ]
    model_path = inputs.model_path
    if model_is_here:  # a folder on this machine (the tiny model, another run's checkpoint)
        run, artifact = model_run or ("", "")
        source = "" if model_run else model_path
        parcels.append(Parcel("model", digest(Path(model_path)), source, run, artifact))
        model_path = parcels[-1].job_path
    moved = replace(
        inputs,
        train_file=Path(parcels[0].job_path),
        val_file=Path(parcels[1].job_path),
        model_path=model_path,
        checkpoint_dir=Path(JOB_DIR) / "checkpoints" / inputs.run_id,
    )
    return moved, parcels


def relocate_benches(benches: dict[str, str]) -> tuple[dict[str, str], list[Parcel]]:
    """Benchmark files (or folders) as the job's paths, and their parcels."""
    parcels = [
        Parcel(f"eval/{name}/{Path(path).name}", digest(Path(path)), path)
        for name, path in benches.items()
    ]
    return {name: p.job_path for name, p in zip(benches, parcels, strict=True)}, parcels


def pack(client: MlflowClient, run_id: str, parcels: Iterable[Parcel]) -> None:
    """Log each parcel as the run's artifact ``inputs/<name>`` (not those another run has)."""
    for parcel in parcels:
        if parcel.run:
            continue
        source = Path(parcel.source)
        folder = str(Path(INPUTS, parcel.name).parent) if "/" in parcel.name else INPUTS
        if source.is_dir():
            client.log_artifacts(run_id, str(source), f"{INPUTS}/{parcel.name}")
        else:
            client.log_artifact(run_id, str(source), folder)


def unpack(client: MlflowClient, run_id: str, fetch: list[dict[str, Any]], job_dir: Path) -> None:
    """Download the run's ``inputs/`` parcels into ``job_dir`` and check every digest.

    Raises:
        ConfigError: a parcel is missing or its digest differs from the run's record.
    """
    for fields in fetch:
        parcel = Parcel(**fields)
        target = job_dir / INPUTS / parcel.name
        target.parent.mkdir(parents=True, exist_ok=True)
        source_run, artifact = parcel.run or run_id, parcel.artifact or f"{INPUTS}/{parcel.name}"
        try:
            _download(client, source_run, artifact, target)
        except Exception as err:
            raise ConfigError(
                f"run {run_id}: cannot fetch its input {artifact} (of run {source_run}): {err}"
            ) from None
        found = digest(target)
        if found != parcel.digest:
            raise ConfigError(
                f"run {run_id}: input {artifact} has digest {found[:12]}…, the run recorded "
                f"{parcel.digest[:12]}…: it changed since the run was recorded"
            )


def _download(client: MlflowClient, run_id: str, artifact: str, target: Path) -> None:
    """``run_id``'s ``artifact`` (a file or a folder) as ``target``."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        fetched = Path(client.download_artifacts(run_id, artifact, staging))
        shutil.rmtree(target, ignore_errors=True)
        fetched.rename(target)


def model_artifact(client: MlflowClient, cfg: DictConfig) -> tuple[str, str] | None:
    """``model.from_run``'s run id and checkpoint artifact, where it logged one: the job
    fetches the model from there instead of a second upload."""
    if not cfg.model.get("from_run"):
        return None
    from rmsweep import names

    run_id = str(cfg.model.from_run)
    artifact = client.get_run(run_id).data.tags.get(names.TAG_CHECKPOINT_ARTIFACT)
    return (run_id, artifact) if artifact else None


def run_dir(code_dir: Path, run_id: str) -> Path:
    """The run's own folder in the job's working directory (:data:`JOB_DIR`)."""
    return code_dir / RUNS / run_id


def localize(value: Any, code_dir: Path, job_dir: Path) -> Any:
    """``value`` (a spec, or a part of one) with the placeholders replaced: :data:`CODE_DIR`
    by ``code_dir``, :data:`JOB_DIR` by ``job_dir``."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace(CODE_DIR + "/", f"{code_dir}/").replace(JOB_DIR + "/", f"{job_dir}/")
    return json.loads(text)


def entrypoint(command: str) -> str:
    """``command`` with the shipped code first on ``PYTHONPATH`` (the job's cwd is it)."""
    return f'PYTHONPATH="$PWD/platform:$PWD${{PYTHONPATH:+:$PYTHONPATH}}" {command}'


def check_experiment(client: MlflowClient, experiment_id: str) -> None:
    """Before a shipped run is created: its experiment keeps artifacts where nodes reach them.

    Raises:
        ConfigError: the experiment's artifact location is a path on this machine (e.g. it
            was created before the tracking server served artifacts).
    """
    experiment = client.get_experiment(experiment_id)
    location = str(experiment.artifact_location)
    if location.startswith("file:") or "://" not in location and ":" not in location:
        raise ConfigError(
            f"MLflow experiment {experiment.name!r} keeps its artifacts at {location}, on this "
            "machine: the cluster's nodes cannot read them; use another experiment name "
            "(experiment=…), created on the server"
        )


def check(cfg: DictConfig) -> None:
    """Before any run: a shipped job can reach the run's record.

    Raises:
        ConfigError: the tracking store is a file on this machine (sqlite, file:) while the
            job runs where this disk is not, or the run would chain SFT stages (not built yet).
    """
    shared = cfg.cluster.get("shared_dir")
    if cfg.cluster.address is not None and shared:
        for what, path in (("the checkout", REPO_ROOT), ("workdir", Path(cfg.workdir))):
            if not Path(path).resolve().is_relative_to(Path(shared).resolve()):
                raise ConfigError(
                    f"cluster.shared_dir={shared}: {what} ({path}) is not under it, so the "
                    "nodes cannot read it there (move it, or set cluster.shared_dir=null)"
                )
    if not ships(cfg):
        return
    uri = str(cfg.tracking.uri)
    root = cfg.tracking.artifact_root
    if not uri.startswith(("http://", "https://")) and not (root and "://" in str(root)):
        raise ConfigError(
            f"tracking.uri={uri} keeps the runs' artifacts on this machine, which the "
            "cluster's nodes cannot reach: use an MLflow server (MLFLOW_TRACKING_URI=http://…, "
            "started with --serve-artifacts), or tracking.artifact_root=s3://… (any store "
            "every node reaches), or cluster.shared_dir"
        )
    if cfg.device.name != "cpu":
        raise ConfigError(
            f"device={cfg.device.name} on a cluster without cluster.shared_dir is not built "
            "yet (veRL's workers on other nodes would need the inputs too): set "
            "cluster.shared_dir to a path every node sees"
        )
    if not (REPO_ROOT / "platform" / "rmsweep").is_dir():
        raise ConfigError(
            f"{REPO_ROOT}: not an rmsweep checkout to ship (rmsweep is installed, not "
            "checked out): run from a checkout, or set cluster.shared_dir"
        )
    if cfg.sft.traces:
        raise ConfigError(
            "sft.traces (SFT, then GRPO, in one job) on a cluster without cluster.shared_dir "
            "is not built yet: run `rmsweep run sft`, then GRPO with model.from_run=<its run>"
        )


def ship(spec: JobSpec, parcels: list[Parcel], code_dir: Path) -> tuple[JobSpec, list[Parcel]]:
    """``spec`` as a job whose working directory is ``code_dir``'s upload, and every parcel
    it fetches: benchmarks relocated, each path of ``code_dir`` made the job's own, the model
    always logged (no host but the job's sees its folder). The spec names no source path."""
    from rmsweep.verl import JobSpec

    if spec.eval:
        benches, more = relocate_benches(spec.eval["benches"])
        spec = replace(spec, eval={**spec.eval, "benches": benches})
        parcels = [*parcels, *more]
    fetch = [{k: v for k, v in asdict(p).items() if k != "source"} for p in parcels]
    spec = replace(spec, fetch=fetch, artifact_max_mb=float("inf"))
    text = json.dumps(asdict(spec), sort_keys=True, ensure_ascii=False)
    for root in _roots(code_dir):
        # Only where a path starts: a whole string, or a Hydra override's value.
        text = re.sub(r"""(?<=["'=])""" + re.escape(f"{root}/"), f"{CODE_DIR}/", text)
    left = [root for root in _roots(code_dir) if root in text]
    if left:
        raise ConfigError(f"the job's spec still names {left[0]} after shipping: report this")
    return JobSpec(**json.loads(text)), parcels


def _roots(code_dir: Path) -> list[str]:
    """The checkout's path as written here: resolved, and as this package's files name it."""
    import rmsweep

    as_imported = Path(rmsweep.__file__).parent.parent.parent
    return list(dict.fromkeys([str(Path(code_dir).resolve()), str(as_imported), str(code_dir)]))
