"""`rmsweep study validate` and spec loading as a user's process sees them (subprocesses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from unit.test_study_spec import BAD, BAD_PROBLEMS, GOOD, REPO


def test_validate_command_prints_every_problem_and_fails(tmp_path: Path, workdir: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    cli = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study", "validate"]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert f"{good}: ok (demo" in ok.stdout
    failed = subprocess.run(
        [*cli, str(good), str(bad)], capture_output=True, text=True, check=False
    )
    assert failed.returncode != 0
    assert failed.stderr.startswith(f"error: {bad}: {len(BAD_PROBLEMS)} problems")
    assert f"{bad}:13: samplr: unknown key" in failed.stderr


def test_help_and_validate_do_not_import_the_heavy_libraries(workdir: Path) -> None:
    code = (
        "import sys\n"
        "from rmsweep.study import load_spec\n"
        f"load_spec({str(REPO / 'sweeps' / 'quickstart.yaml')!r})\n"
        "import rmsweep.cli.study\n"
        "print(sorted(m for m in ('optuna', 'mlflow', 'ray', 'torch', 'verl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
