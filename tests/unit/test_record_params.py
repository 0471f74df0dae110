"""A trial's params in MLflow: rmsweep's dotted keys, the swept ones first (real sqlite store)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from rmsweep.config import compose
from rmsweep.record import quiet_params, swept_params
from rmsweep.tracking import ensure_experiment, record_run, tracking_client

TRIAL = ["reward=exponential", "reward.k=4", "template=pointwise_fewshot", "++trainer.lr=0.001"]


def test_a_trials_overrides_become_params_with_resolved_values(workdir: Path) -> None:
    cfg = compose(TRIAL)
    assert swept_params(cfg, TRIAL) == {
        "reward": "exponential",  # a group: the option chosen
        "reward.k": "4.0",  # a key: its resolved value, as in the flattened config
        "template": "pointwise_fewshot",
        "trainer.lr": "0.001",
    }


def test_swept_params_lead_and_every_key_is_dotted(workdir: Path, tmp_path: Path) -> None:
    cfg = compose(TRIAL)
    client = tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = record_run(
        client,
        ensure_experiment(client, "sweep", tmp_path / "artifacts"),
        run_name="trial",
        config=OmegaConf.to_container(cfg, resolve=True),
        overrides=TRIAL,
        tags={},
        lead_params=swept_params(cfg, TRIAL),
    )
    params = client.get_run(run_id).data.params
    assert list(params)[:4] == ["reward", "reward.k", "template", "trainer.lr"]
    assert params["reward.k"] == "4.0" and params["reward.shape"] == "exponential"
    assert not [key for key in params if "/" in key]
    assert 40 < len(params) < 200  # the resolved config, not veRL's ~970 keys
    client.set_terminated(run_id)


def test_keys_that_repeat_a_choice_or_go_unused_are_not_params(workdir: Path) -> None:
    # MLflow's compare view plots the first three differing params, alphabetically: only the
    # swept keys should differ among a study's trials there.
    linear = ["reward=linear", "template=pointwise_plain", "~reward.k"]  # k: exponential only
    cfg = compose(linear[:2])
    quiet = quiet_params(cfg, swept_params(cfg, linear), linear)
    assert {"reward.shape", "template.name", "reward.k"} <= quiet
    assert "reward" not in quiet and "reward.scale_max" not in quiet
    exponential = compose(TRIAL)
    assert "reward.k" not in quiet_params(exponential, swept_params(exponential, TRIAL), TRIAL)
