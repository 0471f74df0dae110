"""rmsweep.tiny_model across processes: a killed build, two builds racing for one entry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from unit.test_tiny_model import (  # the unit tests' data and config helpers
    ENTRY_FILES,
    complete_entries,
    model_cfg,
    synthetic_rows,
    write_parquet,
)

from rmsweep.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def train_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet(tmp_path_factory.mktemp("data") / "train.parquet", synthetic_rows(300, 0))


_CHILD = """
import json, sys
from pathlib import Path
from rmsweep.tiny_model import build_tiny_model, _build, _warmstart

cfg, data, cache, mode = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
if mode == "pause":  # say when the warm-start begins (tokenizer saved by then), wait for a line
    real_warm_start = _warmstart.warm_start
    def warm_start(*args, **kwargs):
        print("warm-start begun", flush=True)
        sys.stdin.readline()
        return real_warm_start(*args, **kwargs)
    _warmstart.warm_start = warm_start
if mode == "lock":  # say when it asks for the build lock
    real_exclusive = _build._exclusive
    def exclusive(*args, **kwargs):
        print("locking", flush=True)
        return real_exclusive(*args, **kwargs)
    _build._exclusive = exclusive
m = build_tiny_model(cfg, data, cache, parser="score", seed=0)
print(json.dumps({"path": str(m.path), "hit": m.cache_hit}), flush=True)
"""


def _spawn(cfg: dict, data: Path, cache: Path, mode: str = "plain") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(cfg), str(data), str(cache), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(child: subprocess.Popen) -> dict:
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_killed_build_leaves_nothing_that_looks_complete(
    train_parquet: Path, tmp_path: Path
) -> None:
    child = _spawn(model_cfg(warmstart_steps=7), train_parquet, tmp_path, "pause")
    try:
        assert child.stdout.readline().strip() == "warm-start begun", child.stderr.read()
        assert list(tmp_path.glob(".tmp-*/tokenizer.json"))  # half-written, in the temp dir
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    assert complete_entries(tmp_path) == []
    # The next build (of any inputs) clears the dead one's temp dir: no process holds its lock.
    rebuilt = build_tiny_model(
        model_cfg(warmstart_steps=5), train_parquet, tmp_path, parser="score"
    )
    assert complete_entries(tmp_path) == [rebuilt.path]
    assert not list(tmp_path.glob(".tmp-*"))


def test_racing_processes_build_once_and_share_the_entry(
    train_parquet: Path, tmp_path: Path
) -> None:
    cfg = model_cfg(warmstart_steps=20)
    first = _spawn(cfg, train_parquet, tmp_path, "pause")
    assert first.stdout.readline().strip() == "warm-start begun", first.stderr.read()
    # The second arrives while the first is mid-build (paused inside the warm-start).
    second = _spawn(cfg, train_parquet, tmp_path, "lock")
    assert second.stdout.readline().strip() == "locking", second.stderr.read()
    first.stdin.write("go\n")
    first.stdin.flush()
    results = [_result(first), _result(second)]
    assert results[0]["path"] == results[1]["path"]
    assert [r["hit"] for r in results] == [False, True]  # the second waited, then reused it
    assert [str(p) for p in complete_entries(tmp_path)] == [results[0]["path"]]
    assert ENTRY_FILES <= {p.name for p in Path(results[0]["path"]).iterdir()}
    assert not list(tmp_path.glob(".tmp-*"))
