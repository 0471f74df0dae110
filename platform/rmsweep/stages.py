"""A run's stages: which data SFT and GRPO take, and a GRPO run's own SFT stage
(``sft.traces``): SFT on traces, then GRPO from that model.

Both stages run in the run's one Ray job (so a study trial stays one job, stopped, adopted and
recovered as before). The SFT stage has its own MLflow run, nested under the GRPO run and
tagged ``rmsweep.stage=sft``; the job ends it when SFT is done, ``tracking.finish_run`` when
the GRPO run ends first (a kill during SFT). The GRPO run names it as its parent stage, as
``model.from_run`` does for an SFT run made by ``rmsweep run sft``.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rmsweep import names
from rmsweep.errors import ConfigError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from omegaconf import DictConfig

    from rmsweep.data import PreparedData
    from rmsweep.record import Inputs
    from rmsweep.verl import JobInputs, JobSpec


STAGE_COMMAND = {"grpo": "GRPO (run train, a study's trials)", "sft": "SFT (run sft)"}


def check_stage_data(cfg: DictConfig, stage: str) -> None:
    """SFT trains on traces (``data.source=traces``), GRPO on anything else.

    Raises:
        ConfigError: naming ``data.source`` and the command that takes it.
    """
    if stage == "sft" and cfg.sft.traces:
        raise ConfigError(
            f"sft.traces={cfg.sft.traces!r} is a GRPO run's own SFT stage (run train, a study); "
            "run sft reads its traces from data (data=traces_pairwise data.path=…)"
        )
    if cfg.sft.traces and cfg.device.name == "gpu":
        raise ConfigError(
            "sft.traces on device=gpu: the SFT stage would run beside Ray's GPU accounting; "
            "run `rmsweep run sft` first, then start from it with model.from_run=<its run id>"
        )
    traces = cfg.data.source == "traces"
    if traces != (stage == "sft"):
        wanted = "traces" if stage == "sft" else "a source other than traces"
        taker = STAGE_COMMAND["sft" if traces else "grpo"]
        raise ConfigError(
            f"data.source={cfg.data.source!r}: {STAGE_COMMAND[stage]} needs {wanted}; "
            f"that data is for {taker}"
        )


def record_sft_stage(
    client: MlflowClient,
    experiment_id: str,
    cfg: DictConfig,
    inputs: Inputs,
    traces: PreparedData,
    grpo_run_id: str,
) -> str:
    """Create the SFT stage's run under the GRPO run and tag the GRPO run with its lineage
    (``rmsweep.parent_stage`` and the stage's digests); returns the stage's run id."""
    from rmsweep import record
    from rmsweep.record import Inputs

    sft_run_id = record.record(
        client,
        experiment_id,
        cfg,
        Inputs(traces, inputs.model_path, inputs.model_digest),
        run_name=f"sft-{cfg.template.name}-s{cfg.seed}",
        overrides=[],
        tags={names.TAG_STAGE: "sft"},
        parent_run_id=grpo_run_id,
    )
    mine, theirs = names.DIGEST_TAG_PREFIX, names.PARENT_DIGEST_TAG_PREFIX
    tags = client.get_run(sft_run_id).data.tags
    client.set_tag(grpo_run_id, names.TAG_PARENT_STAGE, sft_run_id)
    client.set_tag(grpo_run_id, names.TAG_MODEL_PATH, str(sft_model_dir(cfg, sft_run_id)))
    # The traces are the GRPO run's input too: reproduce checks them (record.CHECKED_DIGESTS).
    client.set_tag(grpo_run_id, mine + "sft.data.train", traces.train_digest)
    client.set_tag(grpo_run_id, mine + "sft.data.val", traces.val_digest)
    for key, value in tags.items():
        if key.startswith(mine):
            client.set_tag(grpo_run_id, theirs + key.removeprefix(mine), value)
    return sft_run_id


def sft_model_dir(cfg: DictConfig, sft_run_id: str) -> Path:
    """Where the SFT stage's model is kept, and GRPO starts from."""
    from rmsweep.verl import MODEL_SUBDIR

    return Path(cfg.workdir) / "checkpoints" / sft_run_id / MODEL_SUBDIR


def chained_job_spec(
    cfg: DictConfig, inputs: JobInputs, traces: PreparedData, sft_run_id: str
) -> JobSpec:
    """The run's job: veRL's SFT trainer on the traces (logging into ``sft_run_id``), the
    model's export, then GRPO (``inputs``' run) from that model."""
    from rmsweep import sft, verl
    from rmsweep.verl import JobInputs

    sft_inputs = JobInputs(
        train_file=traces.train_path,
        val_file=traces.val_path,
        model_path=inputs.model_path,
        run_id=sft_run_id,
        tracking_uri=inputs.tracking_uri,
        checkpoint_dir=Path(cfg.workdir) / "checkpoints" / sft_run_id,
    )
    first = replace(sft.job_spec(cfg, sft_inputs), eval=None)  # only the final model is judged
    env = sft.sft_env(
        sft.settings_of(cfg), port=None, tracking_uri=inputs.tracking_uri, run_id=sft_run_id
    )
    grpo = verl.job_spec(cfg, replace(inputs, model_path=first.model_dir))
    return replace(grpo, before={"run_id": sft_run_id, "spec": asdict(first), "env": env})
