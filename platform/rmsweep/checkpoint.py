"""A run's trained model: exported from veRL's checkpoint as a Hugging Face folder, found by run id.

veRL saves the actor with ``checkpoint.save_contents=[hf_model]`` under
``<checkpoint_dir>/global_step_<N>/actor/huggingface`` (config, tokenizer, safetensors).
``export`` moves the last one to ``<workdir>/checkpoints/<run_id>/model`` and drops the rest;
``record`` tags the run with that path (``rmsweep.checkpoint``) and logs the folder as the
artifact ``checkpoint/`` when it is small; ``locate`` finds it again from the run id alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import CheckpointError

if TYPE_CHECKING:
    from mlflow import MlflowClient

MODEL_DIR = "model"  # inside <workdir>/checkpoints/<run_id>/
DIGEST = "checkpoint"  # the run's tag rmsweep.digest.checkpoint: sha256 of its model folder
_STEP_DIR = re.compile(r"^global_step_(\d+)$")


def export(checkpoint_dir: Path, target: Path, *, hf_subdir: str = "actor/huggingface") -> Path:
    """Move the last step's Hugging Face model out of veRL's checkpoint folder into ``target``.

    ``hf_subdir`` is where a step folder holds it: ``actor/huggingface`` (GRPO's actor) or
    ``huggingface`` (veRL's SFT trainer).

    The weights are stored as trained (fp32 on a CPU run) while veRL writes ``dtype: bfloat16``
    into the config; the config is corrected so that ``from_pretrained(dtype="auto")`` loads
    what was trained.

    Raises:
        CheckpointError: veRL saved no Hugging Face model under ``checkpoint_dir``.
    """
    steps = sorted(
        (int(m.group(1)), p)
        for p in Path(checkpoint_dir).glob("global_step_*")
        if (m := _STEP_DIR.match(p.name)) and (p / hf_subdir).is_dir()
    )
    if not steps:
        raise CheckpointError(f"{checkpoint_dir}: veRL saved no Hugging Face model (no step)")
    source = steps[-1][1] / hf_subdir
    _fix_dtype(source)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.move(str(source), staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # atomic: a reader sees no model or the whole model
    shutil.rmtree(checkpoint_dir, ignore_errors=True)  # the other steps, veRL's bookkeeping
    return target


def _fix_dtype(model_dir: Path) -> None:
    from safetensors import safe_open

    config_path = model_dir / "config.json"
    shards = sorted(model_dir.glob("*.safetensors"))
    if not shards or not config_path.is_file():
        return
    with safe_open(str(shards[0]), "pt") as f:
        first = next(iter(f.keys()), None)
        dtype = str(f.get_slice(first).get_dtype()) if first else None
    stored = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}.get(dtype or "")
    if stored is None:
        return
    config = json.loads(config_path.read_text())
    key = "dtype" if "dtype" in config else "torch_dtype"
    if config.get(key) != stored:
        config[key] = stored
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


_digests: dict[tuple[object, ...], str] = {}  # this process's: a study hashes each model once


def digest(model_dir: Path) -> str:
    """sha256 of a model folder: every file's relative name and bytes, in name order.

    Remembered per process while no file's size or modification time changes (a study's
    trials, and reproduce's check then run, start from the same multi-GB folder)."""
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    key = (str(root.resolve()), *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _digests:
        sha = hashlib.sha256()
        for path in files:
            sha.update(path.relative_to(root).as_posix().encode() + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(chunk)
        _digests[key] = sha.hexdigest()
    return _digests[key]


def record(client: MlflowClient, run_id: str, model_dir: Path, *, artifact_max_mb: float) -> bool:
    """Tag the run with its checkpoint and that folder's digest, and log it as an artifact
    when small; whether logged."""
    client.set_tag(run_id, names.DIGEST_TAG_PREFIX + DIGEST, digest(model_dir))
    client.set_tag(run_id, names.TAG_CHECKPOINT, str(Path(model_dir).resolve()))
    if folder_mb(model_dir) > artifact_max_mb:
        return False
    client.log_artifacts(run_id, str(model_dir), names.CHECKPOINT_ARTIFACT)
    client.set_tag(run_id, names.TAG_CHECKPOINT_ARTIFACT, names.CHECKPOINT_ARTIFACT)
    return True


def locate(client: MlflowClient, run_id: str, *, download_to: Path) -> Path:
    """The Hugging Face folder of ``run_id``'s trained model.

    The recorded path where it exists on this machine, else the run's ``checkpoint/`` artifact
    downloaded (once) to ``download_to/<run_id>``.

    Raises:
        CheckpointError: the run is unknown, or has no checkpoint here nor as an artifact.
    """
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_run(run_id).data.tags
    except MlflowException as err:
        raise CheckpointError(f"run {run_id}: {str(err).splitlines()[0]}") from None
    recorded = tags.get(names.TAG_CHECKPOINT)
    if recorded and (Path(recorded) / "config.json").is_file():
        return Path(recorded)
    artifact = tags.get(names.TAG_CHECKPOINT_ARTIFACT)
    if not artifact:
        where = f"its folder {recorded} is gone" if recorded else "it saved none"
        raise CheckpointError(
            f"run {run_id} has no checkpoint: {where} and none was logged as an artifact"
        )
    target = Path(download_to) / run_id
    if not (target / "config.json").is_file():
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        client.download_artifacts(run_id, artifact, str(staging))
        shutil.rmtree(target, ignore_errors=True)
        (staging / artifact).rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    return target
