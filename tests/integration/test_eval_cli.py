"""`rmsweep eval` as a user runs it: tables, --json, logging into a run, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rmsweep.config import compose, to_yaml
from rmsweep.evaluation import BENCHMARKS, judge_pointwise, length_scores, load_benchmark

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "benchmarks"
BENCHES = [
    f"rmbench={FIXTURES / 'rmbench'}",
    f"rewardbench={FIXTURES / 'rewardbench'}",
    f"rmb={FIXTURES / 'rmb' / 'RMB_dataset'}",
]


def rmsweep(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(RMSWEEP_HOME=str(home), COLUMNS="200")
    command = [sys.executable, "-c", "from rmsweep.cli import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def bench_args() -> list[str]:
    return [arg for bench in BENCHES for arg in ("--bench", bench)]


def test_a_baseline_on_all_three_benchmarks_writes_the_json_keys(tmp_path: Path) -> None:
    out = tmp_path / "scores.json"
    done = rmsweep(
        tmp_path, "eval", "--model", "baseline:length", *bench_args(), "--json", str(out)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    scores = report["scores"]
    for key in (
        "rmbench.chat.easy",
        "rmbench.chat.normal",
        "rmbench.chat.hard",
        "rmbench.chat.avg",
        "rmbench.avg",
        "rewardbench.chat",
        "rewardbench.score",
        "rmb.Pairwise_set/Helpfulness/Chat/Discussion.acc",
        "rmb.acc",
    ):
        assert key in scores, key
    comparisons = load_benchmark("rmbench", FIXTURES / "rmbench")
    expected = BENCHMARKS["rmbench"].score(comparisons, judge_pointwise(comparisons, length_scores))
    assert scores["rmbench.avg"] == pytest.approx(expected["rmbench.avg"])
    assert set(report["baselines"]) == {"baseline:random"}  # the model itself is the length one
    assert "rmbench.avg" in report["baselines"]["baseline:random"]
    assert len(report["benchmarks"]["rmbench"]["sha256"]) == 64
    for bench in ("rmbench", "rewardbench", "rmb"):
        assert f"{bench}: baseline:length" in done.stdout  # one table per benchmark


def test_logging_into_a_run_adds_metrics_inputs_and_the_judgments_table(tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id)
    out = tmp_path / "scores.json"
    done = rmsweep(
        tmp_path, "eval", "--model", "baseline:random", "--bench", BENCHES[0], "--run", run_id,
        "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scores = json.loads(out.read_text())["scores"]
    run = client.get_run(run_id)
    assert run.data.metrics["eval/rmbench/chat/hard"] == pytest.approx(scores["rmbench.chat.hard"])
    assert run.data.metrics["eval/rmbench/avg"] == pytest.approx(scores["rmbench.avg"])
    assert "baseline/length/rmbench/avg" in run.data.metrics
    [bench_input] = [d for d in run.inputs.dataset_inputs if d.dataset.name == "rmbench-eval"]
    tags = {t.key: t.value for t in bench_input.tags}
    assert tags["mlflow.data.context"] == "eval" and len(tags["rmsweep.digest"]) == 64
    table = json.loads(
        (tmp_path / "art" / run_id / "artifacts" / "eval" / "judgments.json").read_text()
    )
    assert len(table["data"]) == 27  # 3 RM-Bench rows x 9 style cells
    assert {"item_id", "correct", "chosen_score", "rejected_score"} <= set(table["columns"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bench", "mtbench=x"], r"--bench 'mtbench=x': unknown benchmark 'mtbench'"),
        (["--bench", "rmbench"], r"--bench 'rmbench': expected NAME=PATH"),
        (["--bench", "rmbench=/no/such/folder"], r"rmbench: no such file or folder: /no/such"),
        (["--bench", f"rmb={FIXTURES / 'rmbench'}"], r"rmbench: not an RMB folder: expected"),
    ],
)
def test_bad_benchmark_arguments_are_one_line_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    import re

    line = one_line_error(rmsweep(tmp_path, "eval", "--model", "baseline:length", *args))
    assert re.search(message, line), line


def test_a_malformed_row_names_the_file_row_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "rb.jsonl"
    row = {"id": 1, "prompt": "p", "chosen": "c", "rejected": "r", "subset": "mt-bench-easy"}
    bad.write_text(json.dumps(row) + "\n" + json.dumps({**row, "id": 2, "chosen": None}) + "\n")
    line = one_line_error(
        rmsweep(tmp_path, "eval", "--model", "baseline:length", "--bench", f"rewardbench={bad}")
    )
    assert f"{bad}: line 2: field 'chosen'" in line


def test_a_run_without_a_checkpoint_is_refused_and_nothing_is_logged(
    tmp_path: Path, workdir: Path
) -> None:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    client.log_text(run_id, to_yaml(compose([])), "config/resolved.yaml")
    client.set_terminated(run_id)
    line = one_line_error(rmsweep(tmp_path, "eval", "--model", run_id, "--bench", BENCHES[0]))
    assert f"run {run_id} has no checkpoint" in line
    run = client.get_run(run_id)
    assert run.data.metrics == {} and run.inputs.dataset_inputs == []
    unknown = "0" * 32
    assert unknown in one_line_error(
        rmsweep(tmp_path, "eval", "--model", unknown, "--bench", BENCHES[0])
    )
