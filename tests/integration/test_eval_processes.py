"""Judging across processes: the random baseline does not depend on Python's hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

from rmsweep.evaluation import random_scores


def test_random_baseline_is_the_same_in_another_process():
    code = (
        "from rmsweep.evaluation import random_scores; print(repr(random_scores([('p', 'a')], 3)))"
    )
    here = random_scores([("p", "a")], 3)
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == repr(here)
