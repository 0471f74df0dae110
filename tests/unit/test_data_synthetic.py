"""The synthetic source: the documented keyword rule, uniform labels, labelled as synthetic."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from rmsweep.data import KEYWORDS, keyword_score, load_data_config, prepare_dataset, read_rows
from rmsweep.data._synthetic import FILLER, PROMPTS, helpsteer2_rows
from rmsweep.errors import ConfigError
from rmsweep.templates import load_template

RESPONSE = re.compile(r"\nResponse: (.*)$")


@pytest.fixture(scope="module")
def default_synthetic(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("cache")
    return prepare_dataset(load_data_config("synthetic"), load_template("pointwise_plain"), cache)


def test_defaults_are_2000_train_200_val(default_synthetic) -> None:
    got = default_synthetic
    assert (got.n_train, got.n_val, got.n_skipped, got.task) == (2000, 200, 0, "pointwise")


def test_every_row_follows_the_keyword_rule_with_uniform_labels(default_synthetic) -> None:
    assert sum(len(k) for k in KEYWORDS.values()) == 15
    assert all(len(k) == 3 for k in KEYWORDS.values())
    for path, n in ((default_synthetic.train_path, 2000), (default_synthetic.val_path, 200)):
        rows = read_rows(path)
        labels = Counter(r["reward_model"]["ground_truth"] for r in rows)
        assert labels == {str(s): n // 5 for s in range(5)}  # exactly uniform
        for row in rows:
            response = RESPONSE.search(row["prompt"][-1]["content"]).group(1)
            words = response.rstrip(".").split()
            assert 5 <= len(words) <= 8  # 4-7 fillers + one keyword
            assert sum(w not in FILLER for w in words) == 1
            assert row["reward_model"]["ground_truth"] == str(keyword_score(response))


def test_a_keyword_lookup_learned_on_train_is_perfect_on_val(default_synthetic) -> None:
    """The rule is learnable from the data alone: every val keyword appears in train."""
    table: dict[str, set[str]] = {}
    for row in read_rows(default_synthetic.train_path):
        response = RESPONSE.search(row["prompt"][-1]["content"]).group(1)
        for word in set(response.rstrip(".").split()) - set(FILLER):
            table.setdefault(word, set()).add(row["reward_model"]["ground_truth"])
    assert len(table) == 15 and all(len(v) == 1 for v in table.values())
    for row in read_rows(default_synthetic.val_path):
        response = RESPONSE.search(row["prompt"][-1]["content"]).group(1)
        (word,) = set(response.rstrip(".").split()) - set(FILLER)
        assert table[word] == {row["reward_model"]["ground_truth"]}


def test_it_says_synthetic_everywhere_it_is_shown(default_synthetic) -> None:
    assert "synthetic" in default_synthetic.data_source
    for row in read_rows(default_synthetic.val_path, 5):
        assert "synthetic" in row["data_source"] and "synthetic" in row["ability"]
        assert row["extra_info"]["synthetic"] is True
        assert row["extra_info"]["origin"].startswith("synthetic:val:")
    with pytest.raises(ConfigError, match="must say 'synthetic'"):
        prepare_dataset(
            {**load_data_config("synthetic"), "name": "demo"},
            load_template("pointwise_plain"),
            Path("unused"),
        )


def test_splits_share_no_prompt_and_texts_stay_short(default_synthetic) -> None:
    train = {r["extra_info"]["source_prompt"] for r in read_rows(default_synthetic.train_path)}
    val = {r["extra_info"]["source_prompt"] for r in read_rows(default_synthetic.val_path)}
    assert train and val and not train & val and train | val <= set(PROMPTS)
    longest = max(
        len(r["prompt"][-1]["content"].split()) for r in read_rows(default_synthetic.train_path)
    )
    assert longest < 40  # whitespace words of the whole rendered prompt: a tiny model can read it


def test_same_seed_same_records_other_seed_other_records() -> None:
    assert helpsteer2_rows(50, 0, "train") == helpsteer2_rows(50, 0, "train")
    assert helpsteer2_rows(50, 0, "train") != helpsteer2_rows(50, 1, "train")
    rows = helpsteer2_rows(200, 3, "train")
    assert all(r["verbosity"] == len(r["response"].split()) - 4 for r in rows)  # fillers - 3
    assert all(r["helpfulness"] == keyword_score(r["response"]) for r in rows)


def test_counts_and_attribute_are_options(tmp_path: Path) -> None:
    cfg = {**load_data_config("synthetic"), "n_train": 30, "n_val": 10, "attribute": "verbosity"}
    got = prepare_dataset(cfg, load_template("pointwise_plain"), tmp_path)
    assert (got.n_train, got.n_val) == (30, 10)
    for row in read_rows(got.train_path):
        response = RESPONSE.search(row["prompt"][-1]["content"]).group(1)
        assert row["reward_model"]["ground_truth"] == str(len(response.split()) - 4)


def test_pairwise_synthetic_chooses_the_higher_keyword(tmp_path: Path) -> None:
    cfg = {**load_data_config("synthetic"), "task": "pairwise", "n_train": 100, "n_val": 20}
    got = prepare_dataset(cfg, load_template("pairwise_verdict"), tmp_path)
    rows = read_rows(got.train_path)
    assert Counter(r["reward_model"]["ground_truth"] for r in rows) == {"A": 50, "B": 50}
    for row in rows:
        content = row["prompt"][-1]["content"]
        a, b = content.split("\nResponse A: ")[1].split("\nResponse B: ")
        better = "A" if keyword_score(a) > keyword_score(b) else "B"
        assert row["reward_model"]["ground_truth"] == better and row["ability"].startswith(
            "synthetic"
        )
