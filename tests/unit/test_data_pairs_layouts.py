"""Preference pairs in the layouts and file formats people have: detection, reading, report.

Every row here is made up for the test (questions like "made-up question 3"); none comes from
a real data set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rmsweep.cli.data import app
from rmsweep.data import make_data_config, prepare_dataset, read_rows
from rmsweep.data._pairs import load
from rmsweep.data._records import BadRows, PairItem, iter_rows, resolve_source
from rmsweep.errors import DataError
from rmsweep.templates import load_template

DISAGREE = "chosen and rejected disagree on the conversation before the last Assistant turn"


def plain_rows(n: int = 6) -> list[dict[str, Any]]:
    return [
        {"prompt": f"made-up question {i}", "chosen": f"good {i}", "rejected": f"bad {i}"}
        for i in range(n)
    ]


def chat_rows(n: int = 6) -> list[dict[str, Any]]:
    def messages(i: int, reply: str) -> list[dict[str, str]]:
        return [
            {"role": "user", "content": f"made-up question {i}"},
            {"role": "assistant", "content": reply},
        ]

    return [
        {"chosen": messages(i, f"good {i}"), "rejected": messages(i, f"bad {i}")} for i in range(n)
    ]


def hh(*turns: str) -> str:
    """An HH-RLHF transcript from alternating Human / Assistant turns."""
    return "".join(f"\n\n{('Human', 'Assistant')[i % 2]}: {t}" for i, t in enumerate(turns))


def hh_rows(n: int = 6) -> list[dict[str, Any]]:
    return [
        {"chosen": hh(f"made-up question {i}", f"good {i}"),
         "rejected": hh(f"made-up question {i}", f"bad {i}")}
        for i in range(n)
    ]  # fmt: skip


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def write_json_array(path: Path, rows: list[Any]) -> Path:
    path.write_text(json.dumps(rows, indent=2))
    return path


def write_parquet(path: Path, rows: list[Any]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_saved(path: Path, rows: list[Any]) -> Path:
    import datasets

    datasets.disable_progress_bars()
    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def write_saved_dict(path: Path, rows: list[Any]) -> Path:
    import datasets

    datasets.disable_progress_bars()
    train, test = datasets.Dataset.from_list(rows), datasets.Dataset.from_list(rows[:1])
    splits = {"train": train, "test": test}
    datasets.DatasetDict(splits).save_to_disk(str(path))
    return path


FORMATS: dict[str, tuple[str, Callable[[Path, list[Any]], Path]]] = {
    "jsonl": ("pairs.jsonl", write_jsonl),
    "json-array": ("pairs.json", write_json_array),
    "parquet": ("pairs.parquet", write_parquet),
    "save_to_disk": ("saved", write_saved),
    "save_to_disk-dict": ("saved_dict", write_saved_dict),
}
LAYOUTS = {
    "prompt/chosen/rejected": plain_rows,
    "chat messages": chat_rows,
    "hh-rlhf transcripts": hh_rows,
}


def read_pairs(path: Path, strict: bool = True) -> tuple[list[PairItem], str, BadRows]:
    source = resolve_source(str(path), path.parent)
    bad = BadRows(strict=strict, base=source.base)
    items, layout = load(iter_rows(source, None), bad)
    return items, layout, bad


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_reads_from_each_file_format(tmp_path: Path, layout: str, fmt: str) -> None:
    name, write = FORMATS[fmt]
    path = write(tmp_path / name, LAYOUTS[layout]())
    items, found, bad = read_pairs(path)
    assert found == layout and not bad.messages
    assert [(p.prompt, p.chosen, p.rejected) for p in items] == [
        (f"made-up question {i}", f"good {i}", f"bad {i}") for i in range(6)
    ]
    assert items[0].origin.endswith(":1" if fmt == "jsonl" else ":row 1")
    if fmt == "save_to_disk-dict":  # the train split only, named in the origin
        assert all(p.origin.startswith("saved_dict[train]:") for p in items)


def test_hh_multi_turn_keeps_the_conversation_in_the_prompt(tmp_path: Path) -> None:
    context = ("What is 2+2?", "4.", "And 3+3?")
    rows = [
        {"chosen": hh(*context, "6."), "rejected": hh(*context, "7.")},
        {"chosen": hh("Hi?", "Hello."), "rejected": hh("Hi?", "Go away.")},
    ]
    items, layout, _ = read_pairs(write_jsonl(tmp_path / "hh.jsonl", rows))
    assert layout == "hh-rlhf transcripts"
    assert (items[0].prompt, items[0].chosen, items[0].rejected) == (
        "User: What is 2+2?\n\nAssistant: 4.\n\nUser: And 3+3?",
        "6.",
        "7.",
    )
    assert (items[1].prompt, items[1].chosen) == ("Hi?", "Hello.")  # one turn: its text


def test_chat_multi_turn_keeps_the_conversation_and_single_turn_prompts_do_not_change(
    tmp_path: Path,
) -> None:
    def convo(*turns: tuple[str, str]) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in turns]

    context = (("system", "Be brief."), ("user", "What is 2+2?"), ("assistant", "4."),
               ("user", "And 3+3?"))  # fmt: skip
    rows = [
        {"chosen": convo(*context, ("assistant", "6.")),
         "rejected": convo(*context, ("assistant", "7."))},
        {"chosen": convo(("system", "Be brief."), ("user", "Hi?"), ("assistant", "Hello.")),
         "rejected": convo(("system", "Be brief."), ("user", "Hi?"), ("assistant", "No."))},
        {"prompt": convo(("user", "Q?"), ("assistant", "A."), ("user", "Sure?")),
         "chosen": convo(("assistant", "Yes.")), "rejected": convo(("assistant", "No."))},
    ]  # fmt: skip
    rows.append(
        {"chosen": convo(("user", "Hi?"), ("assistant", "Hello.")),
         "rejected": convo(("user", "Bye?"), ("assistant", "No."))}
    )  # fmt: skip
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    items, layout, bad = read_pairs(path, strict=False)
    assert layout == "chat messages"
    assert bad.messages == [f"{path}:4: field 'rejected': {DISAGREE}"]
    assert [(p.prompt, p.chosen, p.rejected) for p in items] == [
        ("User: What is 2+2?\n\nAssistant: 4.\n\nUser: And 3+3?", "6.", "7."),
        ("Hi?", "Hello.", "No."),  # the single-turn prompt it always was
        ("User: Q?\n\nAssistant: A.\n\nUser: Sure?", "Yes.", "No."),
    ]


def test_hh_rows_whose_conversations_differ_are_bad_rows(tmp_path: Path) -> None:
    rows = hh_rows(4)
    rows[2]["rejected"] = hh("a different made-up question", "bad 2")
    rows[3]["chosen"] = hh("made-up question 3")  # no Assistant reply at all
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    items, _, bad = read_pairs(path, strict=False)
    assert [p.origin for p in items] == ["hh.jsonl:1", "hh.jsonl:2"]
    assert bad.messages == [
        f"{path}:3: field 'rejected': {DISAGREE}",
        f"{path}:4: field 'chosen': no \"Assistant:\" turn in the transcript",
    ]
    with pytest.raises(DataError, match=rf"bad row at {path}:3: field 'rejected': {DISAGREE}"):
        read_pairs(path, strict=True)


def test_a_json_file_of_json_lines_is_still_read(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "lines.json", [*plain_rows(3), "{broken"])
    items, layout, bad = read_pairs(path, strict=False)
    assert [p.origin for p in items] == ["lines.json:1", "lines.json:2", "lines.json:3"]
    assert layout == "prompt/chosen/rejected"
    assert bad.messages == [f"{path}:4: field '<line>': not valid JSON (Expecting property name "
                            "enclosed in double quotes)"]  # fmt: skip


def test_a_json_array_reports_bad_rows_by_index_and_a_broken_array_in_one_error(
    tmp_path: Path,
) -> None:
    rows: list[Any] = [*plain_rows(2), {"prompt": "made-up question 2", "chosen": "good 2"}]
    path = write_json_array(tmp_path / "array.json", rows)
    _, _, bad = read_pairs(path, strict=False)
    assert bad.messages == [f"{path}:row 3: field 'rejected': missing"]
    path.write_text(path.read_text()[:-20])  # cut short
    with pytest.raises(DataError, match=rf"^{path}: not a valid JSON array \(.* at line \d+"):
        read_pairs(path, strict=False)


def test_unknown_layout_is_one_error_naming_the_fields_and_the_layouts(tmp_path: Path) -> None:
    rows = [{"question": f"made-up question {i}", "answer": "yes", "score": 3} for i in range(50)]
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    bad = BadRows(strict=False, base=tmp_path)
    source = resolve_source(str(path), tmp_path)
    with pytest.raises(DataError) as caught:
        load(iter_rows(source, None), bad)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: rows fit no known pair layout")
    assert "question (string), answer (string), score (number)" in message
    for layout in LAYOUTS:
        assert layout in message
    assert bad.messages == []  # not one bad row per row


def test_a_dataset_dict_without_a_train_split_names_its_splits(tmp_path: Path) -> None:
    import datasets

    datasets.disable_progress_bars()
    rows = datasets.Dataset.from_list(plain_rows(2))
    datasets.DatasetDict({"test": rows, "validation": rows}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"without a 'train' split \(splits: test, validation\)"):
        read_pairs(tmp_path / "dd")


def test_files_in_a_folder_each_get_their_layout(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", hh_rows(3))
    write_json_array(folder / "b.json", plain_rows(3))
    items, layout, _ = read_pairs(folder)
    assert layout == "hh-rlhf transcripts (a.jsonl), prompt/chosen/rejected (b.json)"
    assert len(items) == 6 and items[0].prompt == items[3].prompt == "made-up question 0"


def test_prepare_reports_the_layout_in_its_result_manifest_and_cli(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "hh.jsonl", hh_rows(10))
    cfg = make_data_config(source="pairs", path=str(path), n_val=2)
    got = prepare_dataset(cfg, load_template("pairwise_verdict"), tmp_path / "c")
    assert got.layout == "hh-rlhf transcripts" and (got.n_train, got.n_val) == (8, 2)
    manifest = json.loads((got.train_path.parent / "manifest.json").read_text())
    assert manifest["layout"] == "hh-rlhf transcripts"
    prompts = {r["extra_info"]["source_prompt"] for r in read_rows(got.train_path)}
    assert prompts <= {f"made-up question {i}" for i in range(10)}
    again = prepare_dataset(cfg, load_template("pairwise_verdict"), tmp_path / "c")
    assert again.cache_hit and again.layout == "hh-rlhf transcripts"

    args = ["prepare", "--source", "pairs", "--path", str(path), "--n-val", "2"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "layout: hh-rlhf transcripts\n" in result.output
