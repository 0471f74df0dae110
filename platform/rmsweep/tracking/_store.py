"""MLflow through an explicit ``MlflowClient`` and run id: experiments, runs, artifacts, inputs.

No fluent (active-run) state anywhere: the sweep controller records many trials at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep import names
from rmsweep.errors import ConfigError, Interrupted
from rmsweep.tracking._secrets import redact_secrets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow import MlflowClient

MAX_PARAMS_PER_BATCH = 100  # mlflow.utils.validation.MAX_PARAMS_TAGS_PER_BATCH
MAX_DATASET_DIGEST = 36  # mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE
MLFLOW_STATUS = {"complete": "FINISHED", "failed": "FAILED", "killed": "KILLED", "pruned": "KILLED"}
_UNSAFE_DIR_CHARS = re.compile(r"[^\w.\-]+")


def tracking_client(uri: str) -> MlflowClient:
    """An ``MlflowClient`` for ``uri``; a sqlite store is created (schema included) once.

    Args:
        uri: e.g. ``sqlite:////abs/path/mlflow.db``, ``postgresql://...``, ``http://host:5000``.

    Returns:
        The client; the sqlite file's folder exists afterwards.
    """
    from mlflow import MlflowClient

    db = _sqlite_path(uri)
    if db is None:
        return MlflowClient(tracking_uri=uri)
    db.parent.mkdir(parents=True, exist_ok=True)
    # Two processes creating the same fresh sqlite schema collide ("table ... already
    # exists"); the first store access runs the migrations, so it happens under a file lock.
    with _file_lock(db.with_name(db.name + ".lock")):
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    return client


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_experiment(client: MlflowClient, name: str, artifact_root: Path | str | None) -> str:
    """Get or create the experiment ``name`` and return its id; safe between processes.

    Args:
        client: the tracking client.
        name: the experiment name.
        artifact_root: a new experiment stores artifacts under ``<artifact_root>/<name>``
            (never ``./mlruns`` of the current directory); None leaves the choice to the
            tracking server. An existing experiment keeps its location.

    Raises:
        ConfigError: the experiment exists but is deleted.
    """
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        location = None
        folder = _UNSAFE_DIR_CHARS.sub("_", name) or "experiment"
        if artifact_root is not None and "://" in str(artifact_root):  # s3://, gs://, …
            location = f"{str(artifact_root).rstrip('/')}/{folder}"
        elif artifact_root is not None:
            location = (Path(artifact_root).resolve() / folder).as_uri()
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        found = client.get_experiment_by_name(name)  # another process won the race
        assert found is not None
    if found.lifecycle_stage != "active":
        raise ConfigError(
            f"MLflow experiment {name!r} is deleted; restore it "
            f"(`mlflow experiments restore --experiment-id {found.experiment_id}`) "
            "or choose another experiment name"
        )
    return found.experiment_id


def create_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    parent_run_id: str | None = None,
) -> str:
    """Create a run with its tags and params (in batches of 100) and return its id.

    Tag and param values pass through ``redact_secrets``; ``rmsweep.state`` starts as ``running``.
    """
    from mlflow.entities import Param

    all_tags = {names.TAG_STATE: "running", **tags}
    if parent_run_id is not None:
        all_tags[names.TAG_PARENT] = parent_run_id
    run = client.create_run(
        experiment_id,
        run_name=run_name,
        tags={k: redact_secrets(str(v)) for k, v in all_tags.items()},
    )
    run_id = run.info.run_id
    with ended_on_error(client, run_id):
        items = [Param(k, redact_secrets(v)) for k, v in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])
    return run_id


def sha256_text(text: str) -> str:
    """sha256 hex of ``text`` encoded as UTF-8 (what ``log_text_artifact`` stores)."""
    return hashlib.sha256(text.encode()).hexdigest()


def log_text_artifact(
    client: MlflowClient,
    run_id: str,
    text: str,
    artifact_file: str,
    *,
    secrets: Iterable[str] = (),
) -> str:
    """Store ``text`` (redacted) as the artifact ``artifact_file`` and return its sha256.

    Args:
        client: the tracking client.
        run_id: the run.
        text: the content. Secret-named environment variables' values and ``secrets`` are
            replaced by ``***`` first (``redact_secrets``).
        artifact_file: a relative path such as ``config/resolved.yaml``.
        secrets: more values to mask.

    Returns:
        sha256 hex of the stored (redacted) text; equal to the original's when nothing was
        masked.
    """
    stored = redact_secrets(text, values=secrets)
    client.log_text(run_id, stored, artifact_file)
    return sha256_text(stored)


def log_dataset(
    client: MlflowClient,
    run_id: str,
    *,
    path: Path,
    digest: str,
    name: str,
    context: str,
) -> None:
    """Log the prepared dataset at ``path`` as an input of the run, with our digest.

    MLflow caps a dataset digest at 36 characters: the dataset carries ``digest[:36]`` and the
    input a ``rmsweep.digest`` tag with the whole digest. For parquet, the profile holds the
    row count and the column types.

    Args:
        client: the tracking client.
        run_id: the run.
        path: the prepared file.
        digest: its digest (sha256 hex).
        name: the dataset's name in the UI (e.g. ``helpsteer2/train``).
        context: ``train`` or ``val`` (MLflow's ``mlflow.data.context`` input tag).
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    path = Path(path).resolve()
    with warnings.catch_warnings():
        # MLflow registers its local source twice and warns that the choice is ambiguous.
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        source = resolve_dataset_source(str(path))
    # MLflow marks ``profile`` abstract on MetaDataset, its own digest-only dataset.
    meta = MetaDataset(source, name=name, digest=digest[:MAX_DATASET_DIGEST]).to_dict()  # type: ignore[abstract]
    profile = _parquet_profile(path)
    dataset = Dataset(
        name=meta["name"],
        digest=meta["digest"],
        source_type=meta["source_type"],
        source=meta["source"],
        profile=json.dumps(profile) if profile else None,
    )
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context), InputTag(names.TAG_DIGEST, digest)]
    client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=tags)])


def _parquet_profile(path: Path) -> dict[str, Any] | None:
    if path.suffix != ".parquet":
        return None
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except Exception:  # an unreadable file still gets its digest recorded
        return None
    return {"num_rows": meta.num_rows, "columns": {f.name: str(f.type) for f in schema}}


def finish_run(client: MlflowClient, run_id: str, state: str) -> None:
    """End the run: ``rmsweep.state`` tag and MLflow status; idempotent.

    Args:
        client: the tracking client.
        run_id: the run.
        state: ``complete`` (FINISHED), ``failed`` (FAILED), ``killed`` or ``pruned`` (KILLED).

    Raises:
        ValueError: ``state`` is not one of those.
    """
    if state not in MLFLOW_STATUS:
        raise ValueError(f"state must be one of {sorted(MLFLOW_STATUS)}, got {state!r}")
    run = client.get_run(run_id)
    status = MLFLOW_STATUS[state]
    if run.data.tags.get(names.TAG_STATE) == state and run.info.status == status:
        return
    client.set_tag(run_id, names.TAG_STATE, state)
    client.set_terminated(run_id, status=status)
    _finish_stage_runs(client, run.info.experiment_id, run_id, state)


def _finish_stage_runs(client: MlflowClient, experiment_id: str, run_id: str, state: str) -> None:
    """A run's own SFT stage (``rmsweep.stages``), still RUNNING when the run ends (its job
    was stopped or failed during SFT), ends with it: killed, or failed."""
    query = (
        f"tags.`{names.TAG_PARENT}` = '{run_id}' and tags.`{names.TAG_STAGE}` = 'sft' "
        "and attributes.status = 'RUNNING'"
    )
    for stage in client.search_runs([experiment_id], query):
        finish_run(
            client, stage.info.run_id, "killed" if state in ("killed", "pruned") else "failed"
        )


def error_reason(err: BaseException) -> str:
    """One line saying why ``err`` cut a run short (tag ``rmsweep.reason``)."""
    if isinstance(err, Interrupted):
        return err.reason
    if isinstance(err, KeyboardInterrupt):
        return "stopped by Ctrl-C"
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:5000] if text else type(err).__name__


def end_on_error(client: MlflowClient, run_id: str, err: BaseException) -> None:
    """End a run that ``err`` cut short: KILLED for Ctrl-C or a stop signal, else FAILED,
    with ``error_reason(err)`` as its reason. Never raises (the caller re-raises ``err``); a
    run already ended keeps its end."""
    try:
        if client.get_run(run_id).info.status != "RUNNING":
            return
        client.set_tag(run_id, names.TAG_REASON, error_reason(err))
        finish_run(client, run_id, "killed" if isinstance(err, KeyboardInterrupt) else "failed")
    except Exception:  # the store is what failed: nothing more can be recorded
        pass


@contextmanager
def ended_on_error(client: MlflowClient, run_id: str) -> Iterator[None]:
    """Any exception inside (Ctrl-C and stop signals too) ends the run, then propagates."""
    try:
        yield
    except BaseException as err:
        end_on_error(client, run_id, err)
        raise
