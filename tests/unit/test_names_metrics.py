"""Short metric names: the aliases every run logs beside veRL's keys, and where readers look."""

from __future__ import annotations

import math

import pytest

from rmsweep import names

# One validation call and one training call as veRL passes them to its MLflow adapter.
VALIDATION = {
    "val-aux/synthetic/reward/mean@1": 0.4,
    "val-aux/synthetic/abs_error/mean@1": 1.25,
    "val-core/synthetic/acc/mean@1": 0.5,
    "val-aux/synthetic/parsed/mean@1": 0.75,
    "val-aux/synthetic/pred_0/mean@1": 0.5,
    "val-aux/synthetic/pred_1/mean@1": 0.25,
    "val-aux/synthetic/pred_none/mean@1": 0.25,
    "val-aux/synthetic/acc/std@4": 0.1,  # not the mean@1 summary: no alias
    "val-core/other/acc/mean@1": 0.9,  # another data source: not this run's val/acc
}
TRAINING = {"critic/score/mean": 0.3, "response_length/mean": 51.0, "actor/entropy": 1.5}


def test_validation_metrics_get_their_short_names_with_val_acc_first() -> None:
    short = names.short_metrics(VALIDATION, "synthetic")
    assert list(short)[0] == "val/acc"
    assert short["val/acc"] == 0.5
    assert short["val/abs_error"] == 1.25 and short["val/parsed"] == 0.75
    assert {k for k in short if k.startswith("val/pred_")} == {
        "val/pred_0",
        "val/pred_1",
        "val/pred_none",
        "val/pred_entropy",
    }
    assert "val/acc" in short and short["val/acc"] != 0.9  # the other source is ignored


def test_pred_entropy_is_the_entropy_of_the_shares_and_zero_when_collapsed() -> None:
    short = names.short_metrics(VALIDATION, "synthetic")
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert short["val/pred_entropy"] == pytest.approx(expected)
    collapsed = names.short_metrics(
        {"val-aux/synthetic/pred_3/mean@1": 1.0, "val-aux/synthetic/pred_none/mean@1": 0.0},
        "synthetic",
    )
    assert collapsed["val/pred_entropy"] == 0.0
    assert str(collapsed["val/pred_entropy"]) == "0.0"  # not -0.0 in the UI


def test_training_aliases_and_stored_keys_map_too() -> None:
    short = names.short_metrics(TRAINING, "synthetic")
    assert short == {"train/reward": 0.3, "train/response_length": 51.0, "train/entropy": 1.5}
    stored = {names.metric_key("val/acc", "synthetic"): 0.5}  # already sanitized: _at_
    assert names.short_metrics(stored, "synthetic") == {"val/acc": 0.5}
    assert names.short_metrics({"val-core/x/acc/mean@1": 1.0}, None) == {"val/acc": 1.0}
    assert names.short_metrics({"perf/throughput": 9.0}, "synthetic") == {}


def test_metric_key_reads_veRL_keys_and_the_derived_entropy_by_its_short_name() -> None:
    assert names.metric_key("val/acc", "synthetic") == "val-core/synthetic/acc/mean_at_1"
    assert names.metric_key("val/parsed", "synthetic") == "val-aux/synthetic/parsed/mean_at_1"
    assert names.metric_key("train/reward", "synthetic") == "critic/score/mean"
    assert names.metric_key("val/pred_entropy", "synthetic") == "val/pred_entropy"
