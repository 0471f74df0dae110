"""`rmsweep data prepare|show` through the real console script, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rmsweep.data import load_data_config, prepare_dataset, read_rows
from rmsweep.templates import load_template

RMSWEEP = str(Path(sys.executable).with_name("rmsweep"))


def rmsweep(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(Path(sys.executable).parent), "COLUMNS": "200", "HOME": str(cwd)}
    return subprocess.run(
        [RMSWEEP, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_prepare_synthetic_prints_paths_counts_digests_and_says_synthetic(tmp_path: Path) -> None:
    args = ("data", "prepare", "--n-train", "50", "--n-val", "10")
    first = rmsweep(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "SYNTHETIC data" in first.stdout and "prepared:" in first.stdout
    (folder,) = (tmp_path / ".rmsweep" / "data").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["n_train"] == 50 and manifest["n_val"] == 10
    assert manifest["train_digest"] in first.stdout and manifest["val_digest"] in first.stdout
    assert "skipped rows: 0" in first.stdout
    # Same bytes in this process as in the CLI's (another process, another hash seed).
    here = prepare_dataset(
        {**load_data_config("synthetic"), "n_train": 50, "n_val": 10},
        load_template("pointwise_plain"),
        tmp_path / "here",
    )
    assert (here.train_digest, here.val_digest) == (
        manifest["train_digest"],
        manifest["val_digest"],
    )
    second = rmsweep(*args, cwd=tmp_path)
    assert second.returncode == 0 and "cache hit:" in second.stdout

    shown = rmsweep("data", "show", str(folder / "val.parquet"), "-n", "2", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "SYNTHETIC data" in shown.stdout and shown.stdout.count("row ") == 2
    for row in read_rows(folder / "val.parquet", 2):
        assert row["extra_info"]["source_prompt"] in shown.stdout


def test_strict_bad_row_exits_non_zero_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "hs.jsonl"
    rows = [{"prompt": f"q{i}", "response": "a", "helpfulness": 2} for i in range(5)]
    rows[3]["helpfulness"] = 9
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    base = ("data", "prepare", "--source", "helpsteer2", "--path", "hs.jsonl")
    failed = rmsweep(*base, "--strict", cwd=tmp_path)
    assert failed.returncode != 0
    assert failed.stderr.strip().count("\n") == 0
    assert f"{src}:4: field 'helpfulness'" in failed.stderr
    assert not list(tmp_path.glob(".rmsweep/**/*.parquet"))

    lenient = rmsweep(*base, cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    assert "skipped rows: 1" in lenient.stdout and f"{src}:4" in lenient.stdout


def test_mismatched_template_is_a_one_line_error(tmp_path: Path) -> None:
    result = rmsweep("data", "prepare", "--template", "pairwise_verdict", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith("error: data 'synthetic' is pointwise but template")
