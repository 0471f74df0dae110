"""A job runs the code its run recorded: a node whose rmsweep differs (a package installed
there, a stale shared checkout) fails before training, in one line, the reason on the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rmsweep import names
from rmsweep.tracking import code_digest, ensure_experiment, tracking_client


def _job(uri: str, run_id: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_RUN_ID": run_id}
    # An empty spec: the check comes before the spec is read.
    return subprocess.run(
        [sys.executable, "-m", "rmsweep.job", "{}"], env=env, capture_output=True, text=True
    )


def test_a_job_whose_code_differs_from_its_runs_record_fails_in_one_line(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = tracking_client(uri)
    experiment = ensure_experiment(client, "e", tmp_path / "artifacts")
    run_id = client.create_run(experiment).info.run_id
    client.set_tag(run_id, names.DIGEST_TAG_PREFIX + "code", "0" * 64)  # another commit's
    done = _job(uri, run_id)
    assert done.returncode == 1
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("rmsweep:")]
    assert f"rmsweep.digest.code {code_digest()[:12]}…) is not the code the run recorded" in line
    assert client.get_run(run_id).data.tags[names.TAG_REASON] in line
    client.set_tag(run_id, names.DIGEST_TAG_PREFIX + "code", code_digest())  # the same code
    done = _job(uri, run_id)
    assert "is not the code the run recorded" not in done.stderr  # past the check: the spec
    assert "JobSpec" in done.stderr or done.returncode != 0
    client.set_terminated(run_id)
