"""The ``traces`` source: teacher traces on pairs -> veRL SFT rows, RM-R1's verdict filter.

Every row here is made up for the test ("made-up question 3", "<think>made-up reasoning
…</think>"); none comes from a real data set or a real teacher.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rmsweep.cli.data import app
from rmsweep.data import make_data_config, prepare_dataset, read_rows
from rmsweep.errors import DataError
from rmsweep.templates import load_template

RMSWEEP = str(Path(sys.executable).with_name("rmsweep"))
NO_VERDICT = "field 'trace': no verdict the reward parser can read"


def trace(verdict: str, i: int) -> str:
    return f"<think>made-up reasoning {i}</think><answer>[[{verdict}]]</answer>"


def trace_rows(n: int = 30, wrong: tuple[int, ...] = (4, 11, 25)) -> list[dict[str, Any]]:
    """``n`` made-up pairs, chosen shown first or second in turn; ``wrong`` ones mis-judged."""
    rows = []
    for i in range(n):
        position = "AB"[i % 2]
        verdict = {"A": "B", "B": "A"}[position] if i in wrong else position
        rows.append(
            {
                "prompt": f"made-up question {i}",
                "chosen": f"good {i}",
                "rejected": f"bad {i}",
                "chosen_position": position,
                "trace": trace(verdict, i),
            }
        )
    return rows


def hh(question: str, reply: str) -> str:
    """A one-turn HH-RLHF transcript."""
    return f"\n\nHuman: {question}\n\nAssistant: {reply}"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def traces_cfg(path: Path, **kw: Any) -> dict[str, Any]:
    return make_data_config(source="traces", path=str(path), **kw)


def test_keeps_traces_whose_verdict_matches_the_label_and_counts_the_rest(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "traces.jsonl", trace_rows())
    got = prepare_dataset(traces_cfg(src), load_template("pairwise_verdict"), tmp_path / "c")
    assert (got.n_traces, got.n_traces_dropped, got.n_skipped) == (30, 3, 0)
    assert got.n_train + got.n_val == 27 and got.n_val == 3  # val_fraction 0.1, whole prompts
    rows = read_rows(got.train_path) + read_rows(got.val_path)
    for row in rows:
        *prompt, answer = row["messages"]
        assert answer["role"] == "assistant" and prompt[-1]["role"] == "user"
        i = int(row["extra_info"]["source_prompt"].rsplit(" ", 1)[1])
        assert i not in (4, 11, 25)
        assert answer["content"] == trace(row["extra_info"]["chosen_position"], i)
        # the RL columns beside them (the tiny model is built from those)
        assert row["prompt"] == prompt
        assert row["reward_model"]["ground_truth"] == row["extra_info"]["chosen_position"]
    columns = {"data_source", "messages", "prompt", "reward_model", "extra_info"}
    assert set(pq.read_schema(got.train_path).names) == columns
    manifest = json.loads((got.train_path.parent / "manifest.json").read_text())
    assert (manifest["n_traces"], manifest["n_traces_dropped"]) == (30, 3)
    again = prepare_dataset(traces_cfg(src), load_template("pairwise_verdict"), tmp_path / "c")
    assert again.cache_hit and (again.n_traces, again.n_traces_dropped) == (30, 3)


def test_the_prepare_report_says_how_many_traces_were_dropped(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "traces.jsonl", trace_rows())
    args = ["prepare", "--source", "traces", "--path", str(src), "--out", str(tmp_path / "c")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "kept 27 of 30 traces (3 dropped: verdict disagrees with the label)\n" in result.output
    (folder,) = (tmp_path / "c").iterdir()
    shown = CliRunner().invoke(app, ["show", str(folder / "val.parquet"), "-n", "1"])
    assert shown.exit_code == 0, shown.output
    assert "assistant: <think>made-up reasoning" in shown.output


@pytest.mark.parametrize("layout", ["prompt/chosen/rejected", "hh-rlhf transcripts"])
def test_the_user_turns_are_the_rl_prompt_for_the_same_pair_and_order(
    tmp_path: Path, layout: str
) -> None:
    pairs = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in trace_rows(12)]
    if layout == "hh-rlhf transcripts":
        pairs = [{k: hh(p["prompt"], p[k]) for k in ("chosen", "rejected")} for p in pairs]
    template = load_template("pairwise_rubrics")
    rl_cfg = make_data_config(source="pairs", path=str(write_jsonl(tmp_path / "p.jsonl", pairs)))
    rl = prepare_dataset(rl_cfg, template, tmp_path / "rl")
    rl_rows = read_rows(rl.train_path) + read_rows(rl.val_path)
    # The teacher judged each RL prompt as shown: its trace file keeps that A/B order.
    shown = {r["extra_info"]["source_prompt"]: r for r in rl_rows}
    traced = []
    for i, pair in enumerate(pairs):
        position = shown[f"made-up question {i}"]["reward_model"]["ground_truth"]
        traced.append({**pair, "chosen_position": position, "trace": trace(position, i)})
    src = write_jsonl(tmp_path / "traces.jsonl", traced)
    sft = prepare_dataset(traces_cfg(src), template, tmp_path / "sft")
    assert sft.layout == layout
    sft_rows = read_rows(sft.train_path) + read_rows(sft.val_path)
    assert len(sft_rows) == len(rl_rows) == 12
    assert {r["extra_info"]["chosen_position"] for r in sft_rows} == {"A", "B"}
    for row in sft_rows:
        assert row["messages"][:-1] == shown[row["extra_info"]["source_prompt"]]["prompt"]


def test_a_trace_without_a_verdict_fails_naming_file_and_row(tmp_path: Path) -> None:
    rows = trace_rows(8)
    rows[5]["trace"] = "<think>made-up reasoning that never answers</think>"
    src = tmp_path / "traces.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    with pytest.raises(DataError, match=rf"^{src}:row 6: {NO_VERDICT}"):
        prepare_dataset(traces_cfg(src), load_template("pairwise_verdict"), tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_the_cli_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    rows = trace_rows(8)
    rows[3]["trace"] = "made-up answer: A is better"  # a verdict, but not in the answer format
    write_jsonl(tmp_path / "traces.jsonl", rows)
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "COLUMNS": "200"}
    args = ["data", "prepare", "--source", "traces", "--path", "traces.jsonl"]
    done = subprocess.run(
        [RMSWEEP, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {tmp_path / 'traces.jsonl'}:4: {NO_VERDICT}")
    assert not list(tmp_path.glob(".rmsweep/**/*.parquet"))


def test_rows_without_a_label_or_trace_are_bad_rows(tmp_path: Path) -> None:
    rows = trace_rows(10, wrong=())
    rows[2]["chosen_position"] = "C"
    del rows[5]["chosen_position"]
    del rows[7]["trace"]
    src = write_jsonl(tmp_path / "traces.jsonl", rows)
    got = prepare_dataset(traces_cfg(src), load_template("pairwise_verdict"), tmp_path / "c")
    assert (got.n_traces, got.n_traces_dropped, got.n_skipped) == (7, 0, 3)
    assert got.skipped_rows == (
        f"{src}:3: field 'chosen_position': 'C' is not 'A' or 'B'",
        f"{src}:6: field 'chosen_position': missing ('A' or 'B': where the teacher saw chosen)",
        f"{src}:8: field 'trace': missing",
    )
    with pytest.raises(DataError, match=rf"{src}:3: field 'chosen_position'"):
        prepare_dataset(
            traces_cfg(src, strict=True), load_template("pairwise_verdict"), tmp_path / "s"
        )


def test_nothing_left_after_the_filter_is_one_error(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "traces.jsonl", trace_rows(4, wrong=(0, 1, 2, 3)))
    with pytest.raises(DataError, match="kept 0 of 4 traces .* nothing left to train on"):
        prepare_dataset(traces_cfg(src), load_template("pairwise_verdict"), tmp_path / "c")
