"""prepare_dataset on local files: split, digests, cache, bad rows, position balance, schema."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rmsweep.config import config_dir
from rmsweep.data import (
    DATA_DEFAULTS,
    bucket,
    file_digest,
    load_data_config,
    make_data_config,
    prepare_dataset,
    read_rows,
)
from rmsweep.errors import ConfigError, DataError
from rmsweep.templates import load_template

ULTRAFEEDBACK = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ultrafeedback"
needs_ultrafeedback = pytest.mark.skipif(
    not ULTRAFEEDBACK.is_dir(), reason=f"UltraFeedback sample absent at {ULTRAFEEDBACK}"
)
COLUMNS = ["data_source", "prompt", "ability", "reward_model", "extra_info"]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def helpsteer_rows(n_prompts: int = 12) -> list[dict]:
    rows = []
    for p in range(n_prompts):
        for r in range(2):  # two responses per prompt, like HelpSteer2
            s = (p + r) % 5
            rows.append(
                {
                    "prompt": f"question {p}",
                    "response": f"answer {p}.{r}",
                    "helpfulness": s,
                    "correctness": 4 - s,
                    "coherence": 4,
                    "complexity": 1,
                    "verbosity": 2,
                }
            )
    return rows


def hs_cfg(path: Path, **kw) -> dict:
    return {
        **DATA_DEFAULTS,
        "name": "hs",
        "source": "helpsteer2",
        "path": str(path),
        "n_train": None,
        "n_val": None,
        "val_fraction": 0.25,
        **kw,
    }


def uf_cfg(task: str, **kw) -> dict:
    return {**load_data_config(f"ultrafeedback_{task}"), "path": str(ULTRAFEEDBACK), **kw}


def split_prompts(path: Path) -> list[str]:
    return [row["extra_info"]["source_prompt"] for row in read_rows(path)]


def test_helpsteer2_jsonl_pointwise_on_the_chosen_attribute(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows())
    plain = load_template("pointwise_plain")
    for attribute, expect in (("helpfulness", lambda p, r: (p + r) % 5),
                              ("correctness", lambda p, r: 4 - (p + r) % 5)):  # fmt: skip
        got = prepare_dataset(hs_cfg(src, attribute=attribute), plain, tmp_path / "cache")
        assert (got.n_train, got.n_val, got.n_skipped) == (18, 6, 0)
        for path in (got.train_path, got.val_path):
            for row in read_rows(path):
                p, r = map(int, row["prompt"][-1]["content"].rsplit("answer ", 1)[1].split("."))
                assert row["reward_model"] == {"style": "rule", "ground_truth": str(expect(p, r))}
                assert row["extra_info"]["attribute"] == attribute
                assert row["data_source"] == "hs" and row["ability"] == "rm_pointwise"


def test_split_never_shares_a_prompt_and_keeps_a_prompts_responses_together(
    tmp_path: Path,
) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows(40))
    got = prepare_dataset(hs_cfg(src), load_template("pointwise_plain"), tmp_path / "c")
    train, val = split_prompts(got.train_path), split_prompts(got.val_path)
    assert not set(train) & set(val)
    assert all(n == 2 for n in Counter(train + val).values())  # both responses, same side
    assert got.n_val == 20  # 0.25 of 80 items: whole prompts, exactly on target here


def test_n_val_and_n_train_are_exact_counts(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows(40))
    got = prepare_dataset(
        hs_cfg(src, n_val=7, n_train=30), load_template("pointwise_plain"), tmp_path / "c"
    )
    assert (got.n_train, got.n_val) == (30, 7)
    assert pq.read_metadata(got.train_path).num_rows == 30
    assert not set(split_prompts(got.train_path)) & set(split_prompts(got.val_path))


def test_digests_are_stable_across_runs_and_stored_beside_the_files(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows())
    plain = load_template("pointwise_plain")
    first = prepare_dataset(hs_cfg(src), plain, tmp_path / "a")
    second = prepare_dataset(hs_cfg(src), plain, tmp_path / "b")  # a fresh cache: rebuilt
    assert not second.cache_hit
    assert (first.train_digest, first.val_digest) == (second.train_digest, second.val_digest)
    assert first.inputs_digest == second.inputs_digest
    assert first.train_path.read_bytes() == second.train_path.read_bytes()
    for path, digest in (
        (first.train_path, first.train_digest),
        (first.val_path, first.val_digest),
    ):
        assert file_digest(path) == digest
        assert path.with_name(path.name + ".sha256").read_text().split()[0] == digest
    # The same file elsewhere (another checkout) gives the same bytes and the same cache key.
    moved = tmp_path / "elsewhere" / "hs.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(src.read_bytes())
    third = prepare_dataset(hs_cfg(moved), plain, tmp_path / "c")
    assert (third.train_digest, third.inputs_digest) == (first.train_digest, first.inputs_digest)
    other = prepare_dataset(hs_cfg(src, seed=1), plain, tmp_path / "a")
    assert other.inputs_digest != first.inputs_digest and other.train_path != first.train_path


def test_second_prepare_is_a_cache_hit_and_inputs_change_the_key(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows())
    plain, rubric = load_template("pointwise_plain"), load_template("pointwise_rubric")
    first = prepare_dataset(hs_cfg(src), plain, tmp_path / "c")
    mtime = first.train_path.stat().st_mtime_ns
    again = prepare_dataset(hs_cfg(src), plain, tmp_path / "c")
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert again.train_path == first.train_path and again.train_digest == first.train_digest
    assert again.train_path.stat().st_mtime_ns == mtime  # not rewritten
    assert again.n_train == first.n_train and again.n_skipped == first.n_skipped
    # A sweep over templates: one entry per combination, each prepared once.
    other = prepare_dataset(hs_cfg(src), rubric, tmp_path / "c")
    assert not other.cache_hit and other.train_path.parent != first.train_path.parent
    assert prepare_dataset(hs_cfg(src), rubric, tmp_path / "c").cache_hit
    # Editing the source file changes the key, even at the same path.
    write_jsonl(src, helpsteer_rows(13))
    assert not prepare_dataset(hs_cfg(src), plain, tmp_path / "c").cache_hit


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows())
    plain = load_template("pointwise_plain")
    first = prepare_dataset(hs_cfg(src), plain, tmp_path / "c")
    first.val_path.write_bytes(b"garbage")
    again = prepare_dataset(hs_cfg(src), plain, tmp_path / "c")
    assert not again.cache_hit and file_digest(again.val_path) == first.val_digest


BAD_ROWS = [
    {"prompt": "q0", "response": "a", "helpfulness": 3},  # line 1 good
    {"prompt": "q1", "helpfulness": 2},  # line 2: missing response
    {"prompt": "q2", "response": "a", "helpfulness": 7},  # line 3: outside 0-4
    {"prompt": "q3", "response": "   ", "helpfulness": 1},  # line 4: empty text
    "{not json",  # line 5
    {"prompt": "q5", "response": "a", "helpfulness": 2.5},  # line 6: not on the scale
    {"prompt": "q6", "response": "b", "helpfulness": 0},  # line 7 good
    {"prompt": "q7", "response": "c", "helpfulness": 4},  # line 8 good
]


def test_bad_rows_are_skipped_counted_and_reported_by_file_and_line(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "bad.jsonl", BAD_ROWS)
    got = prepare_dataset(hs_cfg(src, val_fraction=0.3), load_template("pointwise_plain"), tmp_path)
    assert got.n_skipped == 5 and got.n_train + got.n_val == 3
    reported = "\n".join(got.skipped_rows)
    for line, field in ((2, "response"), (3, "helpfulness"), (4, "response"), (5, "<line>"),
                        (6, "helpfulness")):  # fmt: skip
        assert f"{src}:{line}: field '{field}'" in reported
    assert "outside the scale 0-4" in reported and "empty text" in reported
    assert (
        prepare_dataset(
            hs_cfg(src, val_fraction=0.3), load_template("pointwise_plain"), tmp_path
        ).skipped_rows
        == got.skipped_rows
    )  # fmt: skip  (cache hit)


def test_strict_fails_on_the_first_bad_row_naming_file_line_and_field(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "bad.jsonl", BAD_ROWS)
    with pytest.raises(DataError, match=rf"{src}:2: field 'response': missing"):
        prepare_dataset(hs_cfg(src, strict=True), load_template("pointwise_plain"), tmp_path)
    assert not any(tmp_path.glob("**/*.parquet"))  # nothing half-written


def test_pairs_jsonl_with_chat_message_lists(tmp_path: Path) -> None:
    rows = [
        {
            "chosen": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": "yes"},
            ],
            "rejected": [
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": "no"},
            ],
        }
        for i in range(10)
    ]
    src = write_jsonl(tmp_path / "pairs.jsonl", rows)
    cfg = make_data_config(source="pairs", path=str(src), n_val=2)
    got = prepare_dataset(cfg, load_template("pairwise_verdict"), tmp_path / "c")
    assert (got.n_train, got.n_val, got.task) == (8, 2, "pairwise")
    for row in read_rows(got.train_path):
        content = row["prompt"][-1]["content"]
        a = content.split("Response A: ")[1].split("\n")[0]
        assert a == ("yes" if row["reward_model"]["ground_truth"] == "A" else "no")
        assert f"Prompt: {row['extra_info']['source_prompt']}" in content


def test_max_rows_reads_only_the_first_rows(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows(40))
    got = prepare_dataset(hs_cfg(src, max_rows=20), load_template("pointwise_plain"), tmp_path)
    assert got.n_train + got.n_val == 20


def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "hs.jsonl", helpsteer_rows())
    with pytest.raises(DataError, match="is pointwise but template 'pairwise_verdict' is pairwise"):
        prepare_dataset(hs_cfg(src), load_template("pairwise_verdict"), tmp_path)
    with pytest.raises(DataError, match="data file not found: './nope.jsonl'"):
        prepare_dataset(hs_cfg("./nope.jsonl"), load_template("pointwise_plain"), tmp_path)
    with pytest.raises(ConfigError, match="source 'helpsteer2' supports task"):
        prepare_dataset(hs_cfg(src, task="pairwise"), load_template("pairwise_verdict"), tmp_path)
    with pytest.raises(ConfigError, match=r"unknown keys \['size'\]"):
        prepare_dataset({**hs_cfg(src), "size": 3}, load_template("pointwise_plain"), tmp_path)
    with pytest.raises(ConfigError, match="attribute='kindness'"):
        prepare_dataset(
            hs_cfg(src, attribute="kindness"), load_template("pointwise_plain"), tmp_path
        )


@pytest.mark.parametrize(
    "path", sorted((config_dir() / "data").glob("*.yaml")), ids=lambda p: p.stem
)
def test_data_config_files_share_one_key_set_and_a_header(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# ") and "rmsweep " in "".join(text.splitlines()[:3])
    assert "${" not in text
    cfg = load_data_config(path.stem)
    assert set(cfg) == set(DATA_DEFAULTS) and cfg["name"] == path.stem


def test_bucket_edges() -> None:
    assert [bucket(s) for s in (1, 2.79, 2.8, 4.6, 6.39, 6.4, 8.19, 8.2, 10)] == [
        0, 0, 1, 2, 2, 3, 3, 4, 4,
    ]  # fmt: skip


@needs_ultrafeedback
def test_ultrafeedback_sample_end_to_end_pointwise(tmp_path: Path) -> None:
    got = prepare_dataset(uf_cfg("pointwise"), load_template("pointwise_plain"), tmp_path)
    # 1,200 records x 2 responses; the sample has 2 rows with an empty response.
    assert got.n_skipped == 2 and got.n_val == 200 and got.n_train == 2000
    assert all(":" in m and "empty text" in m for m in got.skipped_rows)
    assert pq.read_schema(got.train_path).names == COLUMNS
    rows = read_rows(got.train_path) + read_rows(got.val_path)
    for row in rows:
        extra = row["extra_info"]
        assert row["reward_model"]["ground_truth"] == str(bucket(extra["raw_score"]))
        assert extra["synthetic"] is False and isinstance(extra["source_index"], int)
    assert not set(split_prompts(got.train_path)) & set(split_prompts(got.val_path))
    assert len({r["reward_model"]["ground_truth"] for r in rows}) == 5


@needs_ultrafeedback
def test_ultrafeedback_sample_pairwise_is_position_balanced(tmp_path: Path) -> None:
    got = prepare_dataset(uf_cfg("pairwise"), load_template("pairwise_verdict"), tmp_path)
    # 1,200 records with distinct prompts, 2 with an empty response: all the rest are used.
    assert (got.n_val, got.n_train, got.n_skipped) == (200, 998, 2)
    source = {}
    for f in sorted(ULTRAFEEDBACK.glob("*.jsonl")):
        for i, line in enumerate(f.read_text().splitlines(), start=1):
            source[f"{f.name}:{i}"] = json.loads(line)  # origins are relative to the folder
    for path in (got.train_path, got.val_path):
        rows = read_rows(path)
        counts = Counter(r["reward_model"]["ground_truth"] for r in rows)
        assert set(counts) == {"A", "B"} and abs(counts["A"] - counts["B"]) <= 1
        for row in rows[:50]:
            truth, content = row["reward_model"]["ground_truth"], row["prompt"][-1]["content"]
            a, b = content.split("\nResponse A: ", 1)[1].split("\nResponse B: ", 1)
            chosen = source[row["extra_info"]["origin"]]["chosen"]
            assert (a if truth == "A" else b) == chosen
            assert row["extra_info"]["chosen_position"] == truth
    assert not set(split_prompts(got.train_path)) & set(split_prompts(got.val_path))


@needs_ultrafeedback
def test_positions_are_deterministic_by_seed(tmp_path: Path) -> None:
    verdict = load_template("pairwise_verdict")

    def truths(seed: int, cache: str) -> list[str]:
        got = prepare_dataset(uf_cfg("pairwise", seed=seed), verdict, tmp_path / cache)
        return [r["reward_model"]["ground_truth"] for r in read_rows(got.val_path)]

    assert truths(0, "a") == truths(0, "b")
    assert truths(0, "a") != truths(1, "a")
