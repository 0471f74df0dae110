"""The record of one run, written before its job starts."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rmsweep
from rmsweep import names
from rmsweep.tracking._params import flatten_params, is_sequence
from rmsweep.tracking._provenance import (
    code_digest,
    frozen_requirements,
    git_state,
    package_versions,
)
from rmsweep.tracking._secrets import (
    config_secret_values,
    is_secret_name,
    mask_config,
    mask_overrides,
    override_secret_values,
)
from rmsweep.tracking._store import create_run, ended_on_error, log_dataset, log_text_artifact

if TYPE_CHECKING:
    from mlflow import MlflowClient

GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own tag, shown in the run page


@dataclass(frozen=True)
class DatasetRef:
    """A prepared dataset file and its digest; ``context`` is ``train`` or ``val``."""

    name: str
    path: Path
    digest: str
    context: str


def record_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    run_name: str,
    config: Mapping[str, Any],
    overrides: Sequence[str],
    tags: Mapping[str, str],
    texts: Mapping[str, tuple[str, str]] = {},  # noqa: B006 - read only
    datasets: Sequence[DatasetRef] = (),
    parent_run_id: str | None = None,
    lead_params: Mapping[str, str] = {},  # noqa: B006 - read only
    omit_params: Collection[str] = (),
) -> str:
    """Create the MLflow run of one training run with everything known before its job starts.

    Records: ``tags`` (device, job id, template, reward shape, ...) plus ``rmsweep.version``,
    ``rmsweep.state=running``, the code digest, the git commit and the relevant package
    versions; the flattened config as params; artifacts: the resolved config (YAML), the
    overrides, each of ``texts``, the git diff and the full package list, each text's sha256
    as a ``rmsweep.digest.<key>`` tag; each dataset as a run input with its digest (tag
    ``rmsweep.digest.data.<context>``). Secret-named config keys, overrides and environment
    variables never reach the store: their values are masked everywhere.

    Args:
        client: the tracking client.
        experiment_id: from ``ensure_experiment``.
        run_name: the run's display name.
        config: the resolved config (plain mappings and lists).
        overrides: the override strings that produced it.
        tags: more tags, by ``rmsweep.names`` constant.
        texts: digest key -> (artifact file, text), e.g.
            ``{"reward": ("reward/pointwise.py", source), "template": ("template.txt", t)}``.
        datasets: the prepared data files.
        parent_run_id: the study's parent run, for trials.
        lead_params: params logged first, before the flattened config (a trial's swept
            keys: the MLflow UI lists params in the order they were logged).
        omit_params: flattened config keys not logged as params (they stay in the config
            artifact): what would only repeat a swept choice or show an unused value.

    Returns:
        The run id.
    """
    import yaml
    from mlflow.entities import RunTag

    secrets = config_secret_values(config) | override_secret_values(overrides)
    sha, diff = git_state()
    versions = package_versions()
    all_tags = {
        names.TAG_VERSION: rmsweep.__version__,
        f"{names.DIGEST_TAG_PREFIX}code": code_digest(),
        **{f"{names.PACKAGE_TAG_PREFIX}{k}": v for k, v in versions.items()},
        **({GIT_COMMIT_TAG: sha} if sha else {}),
        **tags,
    }
    run_id = create_run(
        client,
        experiment_id,
        run_name=run_name,
        tags=all_tags,
        params={
            **{k: v for k, v in lead_params.items() if not is_secret_name(k)},
            **{k: v for k, v in flatten_params(config).items() if k not in omit_params},
        },
        parent_run_id=parent_run_id,
    )

    # From here on the run exists: whatever fails ends it (FAILED, with the reason).
    with ended_on_error(client, run_id):
        digests: dict[str, str] = {}

        def text(key: str | None, artifact_file: str, content: str) -> None:
            digest = log_text_artifact(client, run_id, content, artifact_file, secrets=secrets)
            if key is not None:
                digests[f"{names.DIGEST_TAG_PREFIX}{key}"] = digest

        config_yaml = yaml.safe_dump(_plain(mask_config(config)), sort_keys=False)
        text("config", names.CONFIG_ARTIFACT, config_yaml)
        text(None, names.OVERRIDES_ARTIFACT, "".join(f"{o}\n" for o in mask_overrides(overrides)))
        for key, (artifact_file, content) in texts.items():
            text(key, artifact_file, content)
        text(None, names.DIFF_ARTIFACT, diff)
        text(None, names.REQUIREMENTS_ARTIFACT, frozen_requirements())
        for ref in datasets:
            log_dataset(
                client, run_id, path=ref.path, digest=ref.digest, name=ref.name, context=ref.context
            )
            digests[f"{names.DIGEST_TAG_PREFIX}data.{ref.context}"] = ref.digest
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in digests.items()])
    return run_id


def _plain(value: Any) -> Any:
    """Plain dicts, lists and strings for ``yaml.safe_dump`` (paths become strings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if is_sequence(value):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
