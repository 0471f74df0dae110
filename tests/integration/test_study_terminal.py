"""`rmsweep study` in a terminal, as a user runs it: the live table, the dashboard's message."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest


@pytest.mark.skipif(
    importlib.util.find_spec("optuna_dashboard") is not None,
    reason="optuna-dashboard is installed here: this checks the message given without it",
)
def test_dashboard_without_the_extra_says_how_to_install_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="s", storage=url)
    env = {k: v for k, v in os.environ.items() if k != "RMSWEEP_STORAGE"}
    env["RMSWEEP_HOME"] = str(tmp_path / "home")
    cli = [sys.executable, "-c", "from rmsweep.cli import main; main()"]
    done = subprocess.run(
        [*cli, "study", "dashboard", "s", "--storage", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: optuna-dashboard is not installed: pip install 'rmsweep[dashboard]' "
        "(or `rmsweep ui` for the MLflow UI, which needs nothing more)"
    ]


LIVE = """\
# live table test
name: live
base: [device=cpu, trainer.total_steps=3]
objective: {metric: val/acc, direction: maximize}
space:
  reward: [linear, exact]
enqueue: [{reward: linear}, {reward: exact}]
sampler: random
n_trials: 2
"""


@pytest.mark.timeout(300)
def test_launch_on_a_terminal_draws_one_live_table(tmp_path: Path) -> None:
    import pty

    spec = tmp_path / "live.yaml"
    spec.write_text(LIVE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "RMSWEEP_STORAGE")}
    env.update(RMSWEEP_HOME=str(tmp_path / "home"), RMSWEEP_SLEEP_STEP_S="0.05", COLUMNS="160")
    env.pop("MLFLOW_TRACKING_URI", None)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    cli = [sys.executable, "-c", "from rmsweep.cli import main; main()", "study", "launch"]
    terminal, child_side = pty.openpty()
    proc = subprocess.Popen(
        [*cli, str(spec), "--runner", "sleep-local", "--poll", "0.1", "--storage", storage],
        stdin=child_side,
        stdout=child_side,
        stderr=child_side,
        env=env,
    )
    os.close(child_side)
    chunks = []
    while True:
        try:
            data = os.read(terminal, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(terminal)
    assert proc.wait(timeout=60) == 0
    shown = b"".join(chunks).decode(errors="replace")
    assert "\x1b[?25l" in shown  # rich's live display hides the cursor while it redraws
    assert "study live: 2 complete" in shown  # the table's title once both are done
    assert "best so far: trial" in shown and "3/3" not in shown and "2/2" in shown
