"""The resolved config as MLflow params."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from rmsweep.tracking import flatten_params, is_secret_name, param_value
from rmsweep.tracking._params import MAX_PARAM_VALUE, TRUNCATED


def test_dotted_keys_and_value_forms() -> None:
    cfg = {
        "reward": {"shape": "linear", "k": None, "scale": [1, 5]},
        "trainer": {"lr": 1e-6, "fp16": False, "steps": 3},
        "empty": {},
        "data": {"prompt_key": "prompt", "hf_token": "hf_secret_1"},
    }
    assert flatten_params(cfg) == {
        "data.prompt_key": "prompt",
        "empty": "{}",
        "reward.k": "null",
        "reward.scale": "[1, 5]",
        "reward.shape": "linear",
        "trainer.fp16": "false",
        "trainer.lr": "1e-06",
        "trainer.steps": "3",
    }


def test_list_values_round_trip_through_json() -> None:
    value = [1, "a", None, True, {"b": 2.5}]
    assert json.loads(param_value(value)) == value


def test_omegaconf_config_is_resolved_and_lists_are_json() -> None:
    cfg = OmegaConf.create({"a": {"files": ["x", "y"]}, "b": "${a.files}"})
    assert flatten_params(cfg) == {"a.files": '["x", "y"]', "b": '["x", "y"]'}


def test_long_values_are_truncated_to_mlflow_limit() -> None:
    value = param_value("x" * (MAX_PARAM_VALUE + 10))
    assert len(value) == MAX_PARAM_VALUE
    assert value.endswith(TRUNCATED)
    assert param_value("x" * MAX_PARAM_VALUE) == "x" * MAX_PARAM_VALUE


_names = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_leaves = st.one_of(_scalars, st.lists(_scalars, max_size=3))
_configs = st.recursive(
    st.dictionaries(_names, _leaves, max_size=4),
    lambda inner: st.dictionaries(_names, st.one_of(_leaves, inner), max_size=4),
    max_leaves=20,
)


@given(_configs)
def test_every_leaf_has_one_param_and_no_secret_key_survives(cfg: dict) -> None:
    flat = flatten_params(cfg)

    def expected(node: dict, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in node.items():
            if is_secret_name(key):
                continue
            if isinstance(value, dict) and value:
                out.update(expected(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = "{}" if isinstance(value, dict) else param_value(value)
        return out

    assert flat == expected(cfg, "")
    assert list(flat) == sorted(flat)
    assert all(not is_secret_name(key) for key in flat)
