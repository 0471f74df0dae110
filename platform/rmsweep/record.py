"""What a run records before its job starts, and the digests ``reproduce`` checks.

The inputs (prepared data, model) are made first; then ``tracking.record_run`` writes the
run with its tags, params, artifacts (resolved config, overrides, reward source, rendered
template) and dataset inputs, each with its sha256 as a ``rmsweep.digest.*`` tag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

from rmsweep import names
from rmsweep.verl import JobInputs, reward_fn_file

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from rmsweep.data import PreparedData

# The digests reproduce compares with the record (the config is the record itself).
CHECKED_DIGESTS = (
    "code",
    "reward",
    "template",
    "data.train",
    "data.val",
    "model",
    "sft.data.train",  # a GRPO run's own SFT stage (sft.traces)
    "sft.data.val",
)


@dataclass(frozen=True)
class Inputs:
    """The prepared data and model of a run; ``lineage`` tags name the run whose model it
    starts from (``model.from_run``)."""

    data: PreparedData
    model_path: str
    model_digest: str | None
    lineage: dict[str, str] = field(default_factory=dict)


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags every run carries from the start."""
    return {
        names.TAG_DEVICE: cfg.device.name,
        names.TAG_TEMPLATE: cfg.template.name,
        names.TAG_REWARD_SHAPE: (
            f"pairwise_{cfg.reward.pairwise_mode}"
            if cfg.template.task == "pairwise"
            else cfg.reward.shape
        ),
        names.TAG_DATA_SOURCE: cfg.data.name,
    }


def reward_files(cfg: DictConfig) -> list[Path]:
    """The reward entry file veRL loads, then the modules it imports (the rest of reward_fns)."""
    entry = reward_fn_file(cfg)
    return [entry, *sorted(p for p in entry.parent.glob("*.py") if p != entry)]


def reward_source(cfg: DictConfig) -> str:
    """All reward code a run executes, one file after another (its digest is the reward's)."""
    return "".join(f"# ==> reward_fns/{p.name} <==\n{p.read_text()}" for p in reward_files(cfg))


def prepare_inputs(cfg: DictConfig) -> Inputs:
    """Prepare (or reuse from cache) the run's data and model."""
    from rmsweep.data import prepare_dataset

    workdir = Path(cfg.workdir)
    data = prepare_dataset(
        cfg.data, cfg.template, workdir / "data", native_thinking=cfg.model.native_thinking
    )
    if cfg.model.from_run:
        return from_run(cfg, data)
    if cfg.model.path is not None:
        return Inputs(data, cfg.model.path, None)
    from rmsweep.tiny_model import build_tiny_model

    tiny = build_tiny_model(
        cfg.model, data.train_path, workdir / "models", parser=cfg.template.parser, seed=cfg.seed
    )
    return Inputs(data, str(tiny.path), tiny.digest)


def from_run(cfg: DictConfig, data: PreparedData) -> Inputs:
    """The inputs of a run that starts from ``model.from_run``'s trained model: that run's
    checkpoint (found here, or downloaded from its artifact) and its lineage tags.

    Raises:
        CheckpointError: the run is unknown or its checkpoint is gone (names the run).
    """
    import sys

    from rmsweep import checkpoint
    from rmsweep.errors import CheckpointError

    run_id = str(cfg.model.from_run)
    path, tags = locate_parent(cfg)
    digest = checkpoint.digest(path)
    if tags.get(names.DIGEST_TAG_PREFIX + checkpoint.DIGEST) not in (None, digest):
        raise CheckpointError(
            f"model.from_run: run {run_id}'s checkpoint {path} changed since the run saved it"
        )
    mine, theirs = names.DIGEST_TAG_PREFIX, names.PARENT_DIGEST_TAG_PREFIX
    lineage = {names.TAG_PARENT_STAGE: run_id}
    lineage.update(
        {theirs + k.removeprefix(mine): v for k, v in tags.items() if k.startswith(mine)}
    )
    parent_template = tags.get(names.TAG_TEMPLATE)
    if parent_template:
        lineage[names.TAG_PARENT_STAGE + ".template"] = parent_template
        if parent_template != cfg.template.name:  # a choice, maybe a slip: say it, run anyway
            print(
                f"note: model.from_run={run_id} was trained on template {parent_template!r}; "
                f"this run renders {cfg.template.name!r}",
                file=sys.stderr,
            )
    return Inputs(data, str(path), digest, lineage)


def locate_parent(cfg: DictConfig) -> tuple[Path, dict[str, str]]:
    """``model.from_run``'s model folder and that run's tags.

    Raises:
        CheckpointError: the run is unknown or its checkpoint is gone (names the run).
    """
    from rmsweep import checkpoint, tracking
    from rmsweep.errors import CheckpointError

    run_id = str(cfg.model.from_run)
    client = tracking.tracking_client(cfg.tracking.uri)
    download_to = Path(cfg.workdir) / "checkpoints" / "downloaded"
    try:
        path = checkpoint.locate(client, run_id, download_to=download_to)
    except CheckpointError as err:
        raise CheckpointError(f"model.from_run: {err}") from None
    return path, dict(client.get_run(run_id).data.tags)


def prepare_traces(cfg: DictConfig) -> PreparedData | None:
    """The SFT data of a GRPO run's own first stage (``sft.traces``), or None without one:
    the traces rendered with the run's template, one batch of them held out."""
    if not cfg.sft.traces:
        return None
    from rmsweep.data import make_data_config, prepare_dataset

    data = make_data_config(
        source="traces",
        path=str(cfg.sft.traces),
        task=cfg.data.task,
        n_val=cfg.sft.train_batch_size,
        seed=cfg.data.seed,
    )
    workdir = Path(cfg.workdir)
    return prepare_dataset(
        data, cfg.template, workdir / "data", native_thinking=cfg.model.native_thinking
    )


def current_digests(cfg: DictConfig, inputs: Inputs) -> dict[str, str]:
    """Digests of the code, reward, template, data and model a run of ``cfg`` would use now
    (``model`` only where the model has one: the tiny model, a ``model.from_run``)."""
    from rmsweep import templates, tracking

    digests = {
        "code": tracking.code_digest(),
        "reward": tracking.sha256_text(reward_source(cfg)),
        "template": tracking.sha256_text(templates.template_text(cfg.template)),
        "data.train": inputs.data.train_digest,
        "data.val": inputs.data.val_digest,
    }
    if inputs.model_digest:
        digests["model"] = inputs.model_digest
    traces = prepare_traces(cfg)
    if traces is not None:
        digests["sft.data.train"], digests["sft.data.val"] = traces.train_digest, traces.val_digest
    return digests


def record(
    client: MlflowClient,
    experiment_id: str,
    cfg: DictConfig,
    inputs: Inputs,
    *,
    run_name: str,
    overrides: Sequence[str],
    tags: Mapping[str, str],
    parent_run_id: str | None,
    swept: Sequence[str] = (),
) -> str:
    """Create the run with its full record; returns the run id.

    A trial's own overrides (``swept``) come first among the params; a key only restating a
    swept group's choice (``reward.shape`` under ``reward=linear``) and a swept key this trial
    does not use (``~reward.k``: a condition left it out) are not params (MLflow's compare
    view plots the first differing params). The template is registered in MLflow's Prompt
    Registry and the run linked to its version.
    """
    from rmsweep import prompts, templates, tracking

    all_tags = {**run_tags(cfg), names.TAG_MODEL_PATH: inputs.model_path, **inputs.lineage, **tags}
    if inputs.data.n_traces:  # SFT on traces: how many RM-R1's verdict filter kept
        all_tags[names.TAG_TRACES_KEPT] = str(inputs.data.n_traces - inputs.data.n_traces_dropped)
        all_tags[names.TAG_TRACES_READ] = str(inputs.data.n_traces)
    if inputs.model_digest:
        all_tags[names.DIGEST_TAG_PREFIX + "model"] = inputs.model_digest
    data = inputs.data
    template_text = templates.template_text(cfg.template)
    run_id = tracking.record_run(
        client,
        experiment_id,
        run_name=run_name,
        config=cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True)),
        overrides=overrides,
        tags=all_tags,
        lead_params=(lead := swept_params(cfg, swept)),
        omit_params=quiet_params(cfg, lead, swept),
        texts={
            "reward": ("reward/reward_fns.py", reward_source(cfg)),
            "template": ("template/template.txt", template_text),
        },
        datasets=[
            tracking.DatasetRef(
                f"{cfg.data.name}-train", data.train_path, data.train_digest, "train"
            ),
            tracking.DatasetRef(f"{cfg.data.name}-val", data.val_path, data.val_digest, "val"),
        ],
        parent_run_id=parent_run_id,
    )
    with tracking.ended_on_error(client, run_id):
        version = prompts.register_template(client, cfg.template.name, template_text)
        prompts.link_to_run(client, run_id, version)
    return run_id


def quiet_params(cfg: DictConfig, lead: Mapping[str, str], swept: Sequence[str]) -> set[str]:
    """Flattened keys that would only repeat a swept group's choice, and the unused swept
    keys a trial names as ``~key``."""
    quiet = {o.lstrip("~") for o in swept if o.startswith("~") and "=" not in o}
    for group, choice in lead.items():
        node = OmegaConf.select(cfg, group, default=None)
        if OmegaConf.is_dict(node):
            quiet |= {f"{group}.{k}" for k, v in node.items() if str(v) == choice}
    return quiet


def swept_params(cfg: DictConfig, overrides: Sequence[str]) -> dict[str, str]:
    """A trial's own overrides as params: ``reward.k=2`` -> ``{"reward.k": "2.0"}`` (the
    resolved value), ``template=x`` (a group choice) -> ``{"template": "x"}``."""
    from rmsweep.tracking import param_value

    params: dict[str, str] = {}
    for override in overrides:
        key, sep, written = override.partition("=")
        key = key.lstrip("+~")
        if not sep or not key:
            continue
        value = OmegaConf.select(cfg, key, default=None)
        if value is None or OmegaConf.is_config(value):  # a group: the option chosen
            params[key] = written.strip("'\"")
        else:
            params[key] = param_value(value)
    return params


def job_inputs(cfg: DictConfig, inputs: Inputs, run_id: str) -> JobInputs:
    return JobInputs(
        train_file=inputs.data.train_path,
        val_file=inputs.data.val_path,
        model_path=inputs.model_path,
        run_id=run_id,
        tracking_uri=cfg.tracking.uri,
        checkpoint_dir=Path(cfg.workdir) / "checkpoints" / run_id,
    )
