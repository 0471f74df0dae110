"""Secret-looking names, and keeping their values out of logged text."""

from __future__ import annotations

import pytest

from rmsweep.tracking import (
    config_secret_values,
    env_secret_values,
    is_secret_name,
    mask_config,
    mask_overrides,
    override_secret_values,
    redact_secrets,
)


@pytest.mark.parametrize(
    "name",
    [
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "MLFLOW_TRACKING_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_API_KEY_2",
        "WANDB_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "PGPASSWORD",
        "db.password",
        "trainer.wandb_api_key",
        "apiKey",
        "api_keys.openai",
        "client_secret",
        "key",
        "signing_key",
        "auth_token_file",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "data.prompt_key",
        "data.reward_fn_key",
        "image_key",
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu",
        "rollout.max_num_batched_tokens",
        "TOKENIZERS_PARALLELISM",
        "tokenizer.pad_token",
        "eos_token_id",
        "RAY_AUTH_MODE",
        "SSH_AUTH_SOCK",
        "reward.shape",
        "trainer.lr",
    ],
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_env_secret_values_skip_short_and_literal_values() -> None:
    env = {"HF_TOKEN": "hf_abcdef", "X_TOKEN": "abc", "Y_TOKEN": "true", "HOME": "/root"}
    assert env_secret_values(env) == {"hf_abcdef"}


def test_redact_masks_env_and_extra_values_longest_first() -> None:
    env = {"SHORT_TOKEN": "abcd", "LONG_TOKEN": "abcdef-123", "PATH": "/usr/bin"}
    text = "a=abcdef-123 b=abcd c=/usr/bin d=xyz-secret-value"
    assert redact_secrets(text, env, values=["xyz-secret-value"]) == "a=*** b=*** c=/usr/bin d=***"


def test_redact_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMSWEEP_TEST_API_TOKEN", "t0ps3cret-value")
    assert redact_secrets("token is t0ps3cret-value.") == "token is ***."


def test_mask_config_masks_subtrees_and_lists() -> None:
    cfg = {
        "trainer": {"lr": 1e-6, "wandb_api_key": "k-123456"},
        "api_keys": {"openai": "sk-999999"},
        "servers": [{"host": "a", "password": "pw-1234"}],
    }
    masked = mask_config(cfg)
    assert masked == {
        "trainer": {"lr": 1e-6, "wandb_api_key": "***"},
        "api_keys": "***",
        "servers": [{"host": "a", "password": "***"}],
    }
    assert cfg["trainer"]["wandb_api_key"] == "k-123456"  # a copy, not in place
    assert config_secret_values(cfg) == {"k-123456", "sk-999999", "pw-1234"}


def test_overrides_are_masked_by_key() -> None:
    overrides = ["trainer.lr=1e-5", "+trainer.wandb_api_key=k-123456", "data.prompt_key=prompt"]
    assert mask_overrides(overrides) == [
        "trainer.lr=1e-5",
        "+trainer.wandb_api_key=***",
        "data.prompt_key=prompt",
    ]
    assert override_secret_values(overrides) == {"k-123456"}
