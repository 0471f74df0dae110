"""Keep the winner: a run's trained model as a new version in MLflow's Model Registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rmsweep import checkpoint, names

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion


def register_checkpoint(
    client: MlflowClient, run_id: str, model_name: str, *, download_to: Path
) -> ModelVersion:
    """Register ``run_id``'s checkpoint as a new version of ``model_name``, linked to the run.

    The version's source is the run's ``checkpoint/`` artifact (logged now if the model was too
    large to log after training); its tags are the run's benchmark scores (``eval/…``) and
    where it came from (study, trial, run).

    Raises:
        CheckpointError: the run has no checkpoint to register.
    """
    from mlflow.exceptions import MlflowException

    folder = checkpoint.locate(client, run_id, download_to=download_to)
    run = client.get_run(run_id)
    if not run.data.tags.get(names.TAG_CHECKPOINT_ARTIFACT):
        client.log_artifacts(run_id, str(folder), names.CHECKPOINT_ARTIFACT)
        client.set_tag(run_id, names.TAG_CHECKPOINT_ARTIFACT, names.CHECKPOINT_ARTIFACT)
    try:
        client.create_registered_model(model_name)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    tags = {
        key: f"{value:.6g}"
        for key, value in run.data.metrics.items()
        if key.startswith(names.EVAL_PREFIX) and not key.endswith("/n")
    }
    tags.update(
        {
            key: run.data.tags[key]
            for key in (
                names.TAG_STUDY,
                names.TAG_TRIAL,
                names.TAG_TEMPLATE,
                names.TAG_REWARD_SHAPE,
            )
            if key in run.data.tags
        }
    )
    return client.create_model_version(
        model_name,
        source=f"runs:/{run_id}/{names.CHECKPOINT_ARTIFACT}",
        run_id=run_id,
        tags=tags,
        description=f"trained model of run {run_id} ({run.info.run_name})",
    )
