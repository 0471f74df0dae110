"""Bad benchmark input: one-line DataErrors naming the file, the row and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rmsweep.errors import DataError
from rmsweep.evaluation import load_benchmark

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"


def error_of(name: str, path: Path, limit: int | None = None) -> str:
    with pytest.raises(DataError) as info:
        load_benchmark(name, path, limit)
    message = str(info.value)
    assert "\n" not in message
    return message


def rewardbench_rows() -> list[dict]:
    text = (FIXTURES / "rewardbench" / "filtered.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def rmbench_rows() -> list[dict]:
    return json.loads((FIXTURES / "rmbench" / "total_dataset.json").read_text())


def copy_rmb(tmp_path: Path) -> Path:
    root = tmp_path / "RMB_dataset"
    shutil.copytree(FIXTURES / "rmb" / "RMB_dataset", root)
    return root


def edit_json(path: Path, index: int, edit) -> None:
    rows = json.loads(path.read_text())
    edit(rows[index])
    path.write_text(json.dumps(rows))


# ---------------------------------------------------------------- any benchmark


def test_unknown_benchmark_lists_the_known_ones():
    message = error_of("rewardbench2", FIXTURES)
    assert "'rewardbench2'" in message and "rewardbench, rmb, rmbench" in message


def test_missing_path(tmp_path: Path):
    missing = tmp_path / "nope.jsonl"
    message = error_of("rewardbench", missing)
    assert str(missing) in message and "no such file" in message


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_must_be_positive(limit: int):
    assert "limit" in error_of("rewardbench", FIXTURES / "rewardbench", limit)


# ---------------------------------------------------------------- RewardBench


def test_rewardbench_missing_field_names_file_line_and_field(tmp_path: Path):
    rows = rewardbench_rows()
    del rows[1]["subset"]
    path = write_jsonl(tmp_path / "rb.jsonl", rows)
    message = error_of("rewardbench", path)
    assert message == f"{path}: line 2: field 'subset': missing"


def test_rewardbench_wrong_type(tmp_path: Path):
    rows = rewardbench_rows()
    rows[2]["chosen"] = ["not", "a", "string"]
    path = write_jsonl(tmp_path / "rb.jsonl", rows)
    assert error_of("rewardbench", path) == (
        f"{path}: line 3: field 'chosen': expected a string, got a list"
    )


def test_rewardbench_malformed_line(tmp_path: Path):
    path = tmp_path / "rb.jsonl"
    write_jsonl(path, rewardbench_rows()[:2])
    path.write_text(path.read_text() + '{"prompt": "cut off\n')
    message = error_of("rewardbench", path)
    assert message.startswith(f"{path}: line 3: not valid JSON")


def test_rewardbench_row_not_an_object(tmp_path: Path):
    path = write_jsonl(tmp_path / "rb.jsonl", [rewardbench_rows()[0], ["a", "list"]])
    assert error_of("rewardbench", path) == f"{path}: line 2: expected a JSON object, got a list"


def test_rewardbench_duplicate_id(tmp_path: Path):
    rows = rewardbench_rows()
    rows[4]["id"] = 1
    path = write_jsonl(tmp_path / "rb.jsonl", rows)
    assert error_of("rewardbench", path) == (
        f"{path}: line 5: field 'id': duplicate id '1' (first at rb.jsonl:2)"
    )


def test_rewardbench_parquet_rows_are_named_by_index(tmp_path: Path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = rewardbench_rows()[:3]
    rows[1]["prompt"] = None
    path = tmp_path / "filtered.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert error_of("rewardbench", path) == f"{path}: row 1: field 'prompt': missing"


def test_rewardbench_not_parquet(tmp_path: Path):
    path = tmp_path / "broken.parquet"
    path.write_text("not parquet")
    message = error_of("rewardbench", path)
    assert message.startswith(f"{path}: cannot read as parquet")


def test_empty_file(tmp_path: Path):
    path = tmp_path / "rb.jsonl"
    path.write_text("\n")
    assert error_of("rewardbench", path) == f"{path}: empty file (no rows)"


def test_folder_without_data_files(tmp_path: Path):
    (tmp_path / "README.md").write_text("nothing here")
    message = error_of("rewardbench", tmp_path)
    assert message.startswith(f"{tmp_path}: no .json/.jsonl/.parquet files")


# ---------------------------------------------------------------- RM-Bench


def write_rmbench(tmp_path: Path, rows) -> Path:
    path = tmp_path / "total_dataset.json"
    path.write_text(json.dumps(rows))
    return path


def test_rmbench_styles_must_be_three(tmp_path: Path):
    rows = rmbench_rows()
    rows[1]["chosen"] = rows[1]["chosen"][:2]
    path = write_rmbench(tmp_path, rows)
    assert error_of("rmbench", path) == (
        f"{path}: row 1: field 'chosen': expected a list of 3 responses "
        "(concise, detailed, detailed+markdown), got 2 items"
    )


def test_rmbench_rejected_not_a_list(tmp_path: Path):
    rows = rmbench_rows()
    rows[0]["rejected"] = "one response"
    message = error_of("rmbench", write_rmbench(tmp_path, rows))
    assert ": row 0: field 'rejected': expected a list of 3 responses" in message


def test_rmbench_style_entry_not_a_string(tmp_path: Path):
    rows = rmbench_rows()
    rows[2]["rejected"][1] = 42
    path = write_rmbench(tmp_path, rows)
    assert error_of("rmbench", path) == (
        f"{path}: row 2: field 'rejected[1]': expected a string, got int"
    )


def test_rmbench_missing_id(tmp_path: Path):
    rows = rmbench_rows()
    del rows[2]["id"]
    path = write_rmbench(tmp_path, rows)
    assert error_of("rmbench", path) == f"{path}: row 2: field 'id': missing"


def test_rmbench_not_an_array(tmp_path: Path):
    path = write_rmbench(tmp_path, {"rows": rmbench_rows()})
    assert error_of("rmbench", path) == f"{path}: expected a JSON array of rows, got an object"


def test_rmbench_empty_array(tmp_path: Path):
    path = write_rmbench(tmp_path, [])
    assert error_of("rmbench", path) == f"{path}: empty file (no rows)"


def test_rmbench_malformed_json_names_the_line(tmp_path: Path):
    path = tmp_path / "chat_filtered.json"
    path.write_text('[\n  {"id": 1,\n  "prompt": }\n]')
    assert error_of("rmbench", path).startswith(f"{path}: line 3: not valid JSON")


def test_rmbench_total_and_domain_files_together(tmp_path: Path):
    shutil.copy(FIXTURES / "rmbench" / "total_dataset.json", tmp_path)
    for f in (FIXTURES / "rmbench" / "domains").iterdir():
        shutil.copy(f, tmp_path)
    message = error_of("rmbench", tmp_path)
    assert str(tmp_path) in message and "total_dataset.json" in message


# ---------------------------------------------------------------- RMB


def test_rmb_wrong_folder(tmp_path: Path):
    shutil.copy(FIXTURES / "rewardbench" / "filtered.jsonl", tmp_path)
    message = error_of("rmb", tmp_path)
    assert message.startswith(f"{tmp_path.resolve()}: not an RMB folder")
    assert "Pairwise_set/" in message and "BoN_set/" in message


def test_rmb_pairwise_missing_reject(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "Pairwise_set" / "Helpfulness" / "Chat" / "Discussion.json"
    edit_json(path, 2, lambda row: row.pop("reject"))
    assert error_of("rmb", root) == f"{path.resolve()}: row 2: field 'reject': missing"


def test_rmb_answer_not_a_string(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "Pairwise_set" / "Harmlessness" / "S1.json"
    edit_json(path, 0, lambda row: row["chosen"].update(answer=None))
    assert error_of("rmb", root) == f"{path.resolve()}: row 0: field 'chosen.answer': missing"


def test_rmb_bon_empty_loser_list(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "BoN_set" / "Harmlessness" / "S1.json"
    edit_json(path, 1, lambda row: row.update(loser_list=[]))
    assert error_of("rmb", root) == (
        f"{path.resolve()}: row 1: field 'loser_list': expected a non-empty list of responses"
    )


def test_rmb_bon_bad_loser(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "BoN_set" / "Helpfulness" / "Chat" / "Discussion.json"
    edit_json(path, 0, lambda row: row["loser_list"].__setitem__(2, "plain text"))
    assert error_of("rmb", path) == (
        f"{path.resolve()}: row 0: field 'loser_list[2]': expected an object with an 'answer'"
    )


def test_rmb_conversation_turn_without_content(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "Pairwise_set" / "Helpfulness" / "Chat" / "Discussion.json"
    edit_json(path, 1, lambda row: row["conversation_input"][1].pop("content"))
    assert error_of("rmb", root) == (
        f"{path.resolve()}: row 1: field 'conversation_input[1].content': missing"
    )


def test_rmb_bon_row_in_the_pairwise_set(tmp_path: Path):
    root = copy_rmb(tmp_path)
    bon = root / "BoN_set" / "Harmlessness" / "S1.json"
    wrong = root / "Pairwise_set" / "Harmlessness" / "S2.json"
    shutil.copy(bon, wrong)
    assert error_of("rmb", root) == f"{wrong.resolve()}: row 0: field 'pair_uid': missing"


def test_rmb_not_a_json_file(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "Pairwise_set" / "Harmlessness" / "S1.jsonl"
    path.write_text("{}\n")
    assert (
        error_of("rmb", path) == f"{path.resolve()}: not a .json file (RMB files are JSON arrays)"
    )


def test_rmb_empty_file(tmp_path: Path):
    root = copy_rmb(tmp_path)
    path = root / "BoN_set" / "Harmlessness" / "S1.json"
    path.write_text("")
    assert error_of("rmb", root) == f"{path.resolve()}: empty file (no rows)"
