"""Templates: every YAML validates, renders deterministically, and bad templates fail clearly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rmsweep.config import config_dir
from rmsweep.errors import ConfigError, DataError
from rmsweep.schema import TEMPLATE_KEYS
from rmsweep.templates import (
    THINK_INSTRUCTION,
    load_template,
    render,
    template_digest,
    template_text,
    validate_template,
)

TEMPLATE_FILES = sorted((config_dir() / "template").glob("*.yaml"))
POINT = {"prompt": "Describe the river.", "response": "the reply is great."}
PAIR = {"prompt": "Describe the river.", "response_a": "it is good.", "response_b": "it is awful."}


def record_for(template: dict) -> dict:
    return POINT if template["task"] == "pointwise" else PAIR


def test_the_required_templates_exist_with_their_parsers() -> None:
    names = {p.stem for p in TEMPLATE_FILES}
    assert {"pointwise_plain", "pointwise_rubric", "pairwise_verdict", "pairwise_rubrics"} <= names
    for name in names:
        t = load_template(name)
        assert t["parser"] == {"pointwise": "score", "pairwise": "verdict"}[t["task"]]
        assert t["name"] == name


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.stem)
def test_template_file_is_a_hydra_option_with_a_header(path: Path) -> None:
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# ") and any("rmsweep " in line for line in lines[:4])
    assert "${" not in text  # OmegaConf would treat it as an interpolation
    # OmegaConf reads it exactly as plain YAML does, so Hydra sees the same template.
    assert OmegaConf.to_container(OmegaConf.load(path), resolve=True) == yaml.safe_load(text)
    assert tuple(yaml.safe_load(text)) == TEMPLATE_KEYS


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.stem)
def test_render_puts_the_record_in_the_last_user_turn(path: Path) -> None:
    t = load_template(path.stem)
    messages = render(t, record_for(t))
    assert messages[-1]["role"] == "user"
    for value in record_for(t).values():
        assert value in messages[-1]["content"]
    assert "{" not in messages[-1]["content"]  # every placeholder filled
    assert ("<score>" if t["parser"] == "score" else "<answer>[[A]]</answer>") in messages[-1][
        "content"
    ]
    assert render(t, record_for(t)) == messages  # deterministic
    assert (messages[0]["role"] == "system") == bool(t["system"])


def test_pairwise_puts_a_and_b_in_order() -> None:
    content = render(load_template("pairwise_verdict"), PAIR)[-1]["content"]
    assert content.index("Response A: it is good.") < content.index("Response B: it is awful.")


def test_braces_in_the_data_are_left_alone() -> None:
    record = {"prompt": "Fill {response} and {scale_max}", "response": "x {prompt} {}"}
    content = render(load_template("pointwise_plain"), record)[-1]["content"]
    assert "Prompt: Fill {response} and {scale_max}" in content
    assert "Response: x {prompt} {}" in content


def test_scale_defaults_to_0_4_and_can_be_set() -> None:
    t = load_template("pointwise_plain")
    assert "from 0 (useless) to 4 (excellent)" in render(t, POINT)[-1]["content"]
    wide = render(t, {**POINT, "scale_min": 1, "scale_max": 10})[-1]["content"]
    assert "from 1 (useless) to 10 (excellent)" in wide


@pytest.mark.parametrize("name", ["pointwise_plain", "pairwise_rubrics"])
def test_thinking_asks_for_think_tags_only_without_native_thinking(name: str) -> None:
    t = load_template(name)
    assert THINK_INSTRUCTION not in render(t, record_for(t))[-1]["content"]
    t["thinking"] = True
    asked = render(t, record_for(t))[-1]["content"]
    assert asked.endswith(THINK_INSTRUCTION) and "<think></think>" in asked
    native = render(t, record_for(t), native_thinking=True)[-1]["content"]
    assert THINK_INSTRUCTION not in native
    assert native == render(load_template(name), record_for(t))[-1]["content"]


def test_few_shot_examples_become_earlier_turns() -> None:
    t = load_template("pointwise_fewshot")
    assert len(t["few_shot"]) == 2
    messages = render(t, POINT)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == t["few_shot"][0]["answer"]
    assert t["few_shot"][1]["response"] in messages[2]["content"]
    assert POINT["response"] in messages[-1]["content"]


def test_render_accepts_hydra_dictconfig() -> None:
    t = load_template("pointwise_fewshot")
    cfg = OmegaConf.create(t)
    assert render(cfg, POINT) == render(t, POINT)
    assert template_text(cfg) == template_text(t)


def test_template_digest_is_sha256_of_text_and_tracks_changes() -> None:
    t = load_template("pointwise_plain")
    assert template_digest(t) == hashlib.sha256(template_text(t).encode()).hexdigest()
    assert template_digest(load_template("pointwise_plain")) == template_digest(t)
    assert template_digest({**t, "user": t["user"] + " "}) != template_digest(t)
    assert template_digest({**t, "thinking": True}) != template_digest(t)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parser": "verdict"}, "needs parser 'score'"),
        ({"task": "listwise"}, "task must be one of"),
        ({"user": "Rate {prompt}"}, r"must contain \['\{prompt\}', '\{response\}'\]"),
        ({"user": "{prompt} {response} {answer}"}, r"unknown placeholders \['answer'\]"),
        ({"thinking": "yes"}, "thinking must be true or false"),
        ({"few_shot": [{"prompt": "p"}]}, r"few_shot\[0\] needs"),
        ({"extra": 1}, r"unknown keys \['extra'\]"),
    ],
)
def test_invalid_templates_name_the_key(change: dict, message: str) -> None:
    t = {**load_template("pointwise_plain"), **change}
    with pytest.raises(ConfigError, match=message):
        validate_template(t)


def test_missing_record_field_is_a_data_error() -> None:
    with pytest.raises(DataError, match="needs a string 'response_b'"):
        render(load_template("pairwise_verdict"), {"prompt": "p", "response_a": "a"})


def test_unknown_template_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown template 'nope'.*pointwise_plain"):
        load_template("nope")


def test_config_dir_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "template").mkdir()
    t = {**load_template("pointwise_plain"), "name": "mine", "user": "{prompt}|{response}"}
    (tmp_path / "template" / "mine.yaml").write_text(yaml.safe_dump(t))
    monkeypatch.setenv("RMSWEEP_CONFIG_DIR", str(tmp_path))
    assert (
        render(load_template("mine"), POINT)[-1]["content"]
        == "Describe the river.|the reply is great."
    )
