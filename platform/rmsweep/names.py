"""Names shared by every part: MLflow tags, short metric names and their veRL keys.

One home for the vocabulary, so specs, reports and the controller speak the same language.
"""

from __future__ import annotations

import re

# --- MLflow tags ---------------------------------------------------------------------------
TAG_STUDY = "rmsweep.study"
TAG_TRIAL = "rmsweep.trial"
TAG_DEVICE = "rmsweep.device"
TAG_JOB_ID = "rmsweep.job_id"
TAG_JOB_STATUS = "rmsweep.job_status"  # the job's final Ray status
TAG_STATE = "rmsweep.state"  # complete | pruned | failed | killed | running
TAG_REPRODUCES = "rmsweep.reproduces"
TAG_VERSION = "rmsweep.version"
TAG_TEMPLATE = "rmsweep.template"
TAG_REWARD_SHAPE = "rmsweep.reward_shape"
TAG_PARENT = "mlflow.parentRunId"
PACKAGE_TAG_PREFIX = "rmsweep.pkg."  # + package name: its installed version
DIGEST_TAG_PREFIX = "rmsweep.digest."  # + code | data.train | data.val | reward | template | config

STATES = ("running", "complete", "pruned", "failed", "killed")

# --- metrics -------------------------------------------------------------------------------
# veRL logs validation metrics as ``val-core/<data_source>/acc/mean@1`` (the core variable,
# ``acc``) and ``val-aux/<data_source>/<name>/mean@1`` (every other reward output); its MLflow
# logger stores '@' as '_at_' and any other character outside [/\w.\- :] as '_'.
# Users and specs say ``val/<name>``.
VAL_PREFIX = "val/"
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
    the ``train/…`` aliases above, or any full veRL key, passed through unchanged.
    """
    if short.startswith(VAL_PREFIX):
        return verl_val_key(short, data_source)
    return sanitize_metric_key(TRAIN_ALIASES.get(short, short))


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
)


def is_reproducible_metric(key: str) -> bool:
    return not key.startswith(UNREPRODUCIBLE_METRIC_PREFIXES)
