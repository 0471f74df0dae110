"""Names shared by every part: MLflow tags, Optuna user attrs, Ray job states, run states,
short metric names and their veRL keys.

One home for the vocabulary, so specs, reports and the controller speak the same language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# --- MLflow tags ---------------------------------------------------------------------------
TAG_STUDY = "rmsweep.study"
TAG_TRIAL = "rmsweep.trial"
TAG_DEVICE = "rmsweep.device"
TAG_JOB_ID = "rmsweep.job_id"
TAG_JOB_STATUS = "rmsweep.job_status"  # the job's final Ray status
TAG_NODE = "rmsweep.node"  # the IP of the node the job's driver ran on
TAG_STATE = "rmsweep.state"  # complete | pruned | failed | killed | running
TAG_REPRODUCES = "rmsweep.reproduces"
TAG_VERSION = "rmsweep.version"
TAG_TEMPLATE = "rmsweep.template"
TAG_REWARD_SHAPE = "rmsweep.reward_shape"
TAG_PARENT = "mlflow.parentRunId"
TAG_CHECKPOINT = "rmsweep.checkpoint"  # absolute path of the run's Hugging Face model folder
TAG_CHECKPOINT_ARTIFACT = "rmsweep.checkpoint_artifact"  # its artifact folder, when logged
# A run that started from another run's model (model.from_run): that run's id, and its
# digests (code, data, reward, template, checkpoint) under this prefix + the digest's name.
TAG_PARENT_STAGE = "rmsweep.parent_stage"
TAG_STAGE = "rmsweep.stage"  # grpo | sft: the trainer the run's job ran
TAG_TRACES_READ = "rmsweep.traces_read"  # an SFT run's traces: read, and kept by the filter
TAG_TRACES_KEPT = "rmsweep.traces_kept"
PARENT_DIGEST_TAG_PREFIX = "rmsweep.parent_stage.digest."
TAG_REASON = "rmsweep.reason"  # why a run (or trial) failed, was pruned or killed
TAG_DATA_SOURCE = "rmsweep.data_source"
TAG_MODEL_PATH = "rmsweep.model_path"
TAG_REPRODUCE_MISMATCHES = "rmsweep.reproduce_mismatches"  # digests that differed (--force)
TAG_PROMPT = "rmsweep.prompt"  # prompts:/<name>/<version> of the run's template
TAG_DIGEST = "rmsweep.digest"  # a full sha256: on a dataset input, on a prompt version
PACKAGE_TAG_PREFIX = "rmsweep.pkg."  # + package name: its installed version
DIGEST_TAG_PREFIX = "rmsweep.digest."  # + code | data.train | data.val | reward | template | config
# A study's runs.
TAG_KIND = "rmsweep.kind"  # study (the parent run) | trial
TAG_BEST_TRIAL = "rmsweep.best_trial"  # on the parent run
TAG_BEST_RUN = "rmsweep.best_run_id"  # on the parent run
TAG_OPTUNA_STORAGE = "rmsweep.optuna_storage"  # on the parent run, password hidden
JOB_METADATA_RUN_ID = "rmsweep.run_id"  # Ray job metadata: the run the job logs into

# --- run states (tag rmsweep.state) --------------------------------------------------------
STATES = ("running", "complete", "pruned", "failed", "killed")

# --- Ray job states (``RayLauncher.status``) -------------------------------------------------
JOB_PENDING = "PENDING"
JOB_RUNNING = "RUNNING"
JOB_SUCCEEDED = "SUCCEEDED"
JOB_FAILED = "FAILED"
JOB_STOPPED = "STOPPED"
JOB_STATUSES = (JOB_PENDING, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_STOPPED)
JOB_TERMINAL = frozenset({JOB_SUCCEEDED, JOB_FAILED, JOB_STOPPED})

# --- Optuna user attrs ---------------------------------------------------------------------
# On a trial (written by the study controller).
ATTR_RUN_ID = "mlflow_run_id"
ATTR_RUN_URL = "mlflow_run_url"  # the run's page in the MLflow UI (rmsweep.links)
ATTR_JOB_ID = "ray_job_id"
ATTR_FINAL_STEP = "rmsweep.final_step"  # the step of the trial's last validation
ATTR_STATE = "rmsweep.state"  # complete | pruned | failed | killed (running while it runs)
ATTR_REASON = "rmsweep.reason"
ATTR_RETRY_OF = "rmsweep.retry_of"
ATTR_ATTEMPT = "rmsweep.attempt"
ATTR_REPLICATE = "rmsweep.replicate"  # which seed of its configuration (0, 1, …)
ATTR_CONFIGURATION = "rmsweep.configuration"  # the number of its configuration's first trial
ATTR_OVERRIDES = "rmsweep.overrides"
# On a study (written once by its creator).
STUDY_SPEC = "rmsweep.spec"
STUDY_SPEC_SOURCE = "rmsweep.spec_source"
STUDY_OVERRIDES = "rmsweep.overrides"
STUDY_TRACKING_URI = "rmsweep.tracking_uri"
STUDY_EXPERIMENT_ID = "rmsweep.experiment_id"
STUDY_PARENT_RUN = "rmsweep.parent_run_id"
STUDY_OBJECTIVE_KEYS = "rmsweep.objective_keys"
STUDY_N_TRIALS = "rmsweep.n_trials"  # the budget (the spec's, or --trials)

# --- MLflow artifacts (paths inside a run's artifact root) ----------------------------------
CONFIG_ARTIFACT = "config/resolved.yaml"  # the resolved Hydra config
OVERRIDES_ARTIFACT = "config/overrides.txt"
VERL_CONFIG_ARTIFACT = "config/verl.yaml"  # veRL's own config, as its trainer saw it
DIFF_ARTIFACT = "code/git.diff"  # uncommitted changes at launch
REQUIREMENTS_ARTIFACT = "env/requirements.txt"
CHECKPOINT_ARTIFACT = "checkpoint"  # the trained model's Hugging Face folder, when small
JUDGMENTS_ARTIFACT = "eval/judgments.json"  # per-item benchmark judgments (an MLflow table)
SCORES_ARTIFACT = "eval/scores.json"

# --- metrics -------------------------------------------------------------------------------
# veRL logs validation metrics as ``val-core/<data_source>/acc/mean@1`` (the core variable,
# ``acc``) and ``val-aux/<data_source>/<name>/mean@1`` (every other reward output); its MLflow
# logger stores '@' as '_at_' and any other character outside [/\w.\- :] as '_'.
# Users and specs say ``val/<name>``.
VAL_PREFIX = "val/"
OBJECTIVE_PREFIX = "objective/"  # a trial run's metric: the value Optuna was told
BEST_PREFIX = "best/"  # a parent run's metric: the best value so far, stepped by trial number
EVAL_PREFIX = "eval/"  # eval/<bench>/…: benchmark scores of the trained model (rmsweep.evaluation)
BASELINE_METRIC_PREFIX = (
    "baseline/"  # baseline/<length|random>/<bench>/…: the same scores of a baseline
)
VAL_CORE_VARIABLE = "acc"
TRAIN_ALIASES = {
    "train/reward": "critic/score/mean",
    "train/response_length": "response_length/mean",
    "train/entropy": "actor/entropy",
}


_INVALID_METRIC_CHARS = re.compile(r"[^/\w.\- :]")


def sanitize_metric_key(key: str) -> str:
    """The key as veRL's MLflow logger stores it."""
    key = re.sub(r"/+", "/", key.replace("@", "_at_"))
    return _INVALID_METRIC_CHARS.sub("_", key)


def verl_val_key(short: str, data_source: str) -> str:
    """``val/acc`` -> ``val-core/<data_source>/acc/mean_at_1`` (the stored MLflow key)."""
    name = short.removeprefix(VAL_PREFIX)
    section = "val-core" if name == VAL_CORE_VARIABLE else "val-aux"
    return sanitize_metric_key(f"{section}/{data_source}/{name}/mean@1")


def metric_key(short: str, data_source: str) -> str:
    """Map a short metric name onto the MLflow key veRL logs it under.

    Short names: ``val/<reward output>`` (acc, abs_error, parsed, score, pred_0…),
    the ``train/…`` aliases above, or any full veRL key, passed through unchanged. Metrics
    only rmsweep computes (``val/pred_entropy``) are stored under their short name.
    """
    if short in DERIVED_METRICS:
        return short
    if short.startswith(VAL_PREFIX):
        return verl_val_key(short, data_source)
    return sanitize_metric_key(TRAIN_ALIASES.get(short, short))


# Every run also stores the short names themselves, step by step beside veRL's keys (logged
# in the same call by rmsweep.verl_mlflow), so the MLflow UI speaks the spec's language.
PRED_PREFIX = "val/pred_"  # val/pred_<label>: the share of validation answers with that label
PRED_ENTROPY = "val/pred_entropy"  # their entropy: 0 is a collapsed, hedging policy
DERIVED_METRICS = (PRED_ENTROPY,)
_TRAIN_SHORT = {sanitize_metric_key(key): short for short, key in TRAIN_ALIASES.items()}


def short_metrics(metrics: Mapping[str, Any], data_source: str | None) -> dict[str, float]:
    """The short-name twins of one logging call's veRL metrics, ``val/acc`` first.

    Args:
        metrics: one call's metrics, keys as veRL passes them (``…/mean@1``) or as stored.
        data_source: the run's validation data (``cfg.data.name``); None accepts any.

    Returns:
        ``{"val-core/synthetic/acc/mean@1": 0.5, "critic/score/mean": 1.0}`` gives
        ``{"val/acc": 0.5, "train/reward": 1.0}``; when the call holds the ``val/pred_*``
        shares, ``val/pred_entropy`` (nats) too.
    """
    source = re.escape(sanitize_metric_key(data_source)) if data_source else "[^/]+"
    val = re.compile(rf"^val-(?:core|aux)/{source}/([^/]+)/mean_at_1$")
    short: dict[str, float] = {}
    for key, value in metrics.items():
        stored = sanitize_metric_key(key)
        if found := val.match(stored):
            short[VAL_PREFIX + found.group(1)] = float(value)
        elif stored in _TRAIN_SHORT:
            short[_TRAIN_SHORT[stored]] = float(value)
    shares = [v for k, v in short.items() if k.startswith(PRED_PREFIX) and k != PRED_ENTROPY]
    if shares:
        short[PRED_ENTROPY] = 0.0 - sum(p * math.log(p) for p in shares if p > 0)
    first = VAL_PREFIX + VAL_CORE_VARIABLE
    return dict(sorted(short.items(), key=lambda item: item[0] != first))


# Metrics that measure the machine (time, memory, throughput) or the rollout-vs-actor numerical
# gap (which depends on how the rollout server happened to batch requests): they differ between
# two otherwise identical runs, so reproduce reports them apart.
UNREPRODUCIBLE_METRIC_PREFIXES = (
    "timing_s/",
    "timing_per_token_ms/",
    "perf/",
    "actor/perf/",
    "rollout_corr/",
    "training/rollout_",
    "train/mfu",  # veRL's SFT trainer: model FLOPs per second, from wall time
)


def is_reproducible_metric(key: str) -> bool:
    return not key.startswith(UNREPRODUCIBLE_METRIC_PREFIXES)


# --- crash-proof studies (adoption, reuse, the doctor) ---------------------------------------
ATTR_CONTROLLER = "rmsweep.controller"  # host:pid:start of the controller that drives the trial
ATTR_ADOPTED_FROM = "rmsweep.adopted_from"  # the controller it took the trial over from
ATTR_CONFIG_DIGEST = "rmsweep.config_digest"  # what identical configs share (reuse)
ATTR_REUSED_FROM = "rmsweep.reused_from"  # the trial number whose value was told again
TAG_REUSED_FROM = "rmsweep.reused_from"  # on a reused trial's run: the source run id
TAG_ADOPTED = "rmsweep.adopted"  # on a run whose job another controller took over
ENV_PAUSE_AT = "RMSWEEP_PAUSE_AT"  # test kit: the controller stops at this named point
ENV_PAUSE_DIR = "RMSWEEP_PAUSE_DIR"  # … and writes <dir>/<point> with the trial number
