"""Jobs on hosts that cannot see this machine's disk: their spec names no path of it, their
inputs travel as the run's artifacts with digests, and bad set-ups fail before any run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmsweep import shipping, verl
from rmsweep.config import REPO_ROOT, compose
from rmsweep.errors import ConfigError
from rmsweep.tracking import ensure_experiment, tracking_client

REMOTE = ["cluster=ray", "cluster.address=http://10.231.0.11:8265"]


def _inputs(tmp_path: Path) -> verl.JobInputs:
    for name in ("train.parquet", "val.parquet"):
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return verl.JobInputs(
        train_file=tmp_path / "train.parquet",
        val_file=tmp_path / "val.parquet",
        model_path=str(tmp_path / "model"),
        run_id="0123456789abcdef",
        tracking_uri="http://10.231.0.2:5055",
        checkpoint_dir=tmp_path / "checkpoints" / "0123456789abcdef",
    )


def test_a_shipped_spec_names_no_path_of_this_machine(
    workdir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.231.0.2:5055")
    bench = tmp_path / "bench.json"
    bench.write_text("[]")
    cfg = compose([*REMOTE, f"eval.rmbench={bench}"])
    assert shipping.ships(cfg)
    moved, parcels = shipping.relocate(_inputs(tmp_path), model_is_here=True)
    spec, parcels = shipping.ship(verl.job_spec(cfg, moved), parcels, REPO_ROOT)
    text = spec.to_json()
    for path in (str(tmp_path), str(REPO_ROOT), str(workdir)):
        assert path not in text
    assert "@job/inputs/train.parquet" in text and "@job/reward_fns/pointwise.py" in text
    assert spec.eval and spec.eval["benches"] == {"rmbench": "@job/inputs/eval/rmbench/bench.json"}
    assert [p["name"] for p in spec.fetch or []] == [
        "train.parquet", "val.parquet", "model", "eval/rmbench/bench.json"
    ]  # fmt: skip
    assert spec.artifact_max_mb == float("inf")  # the model is always logged
    localized = shipping.localize(json.loads(text), Path("/job"))
    assert "@job" not in json.dumps(localized)
    assert "data.train_files=/job/inputs/train.parquet" in localized["trainer_args"]


def test_parcels_travel_through_the_run_and_their_digests_are_checked(
    tmp_path: Path, workdir: Path
) -> None:
    client = tracking_client(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = ensure_experiment(client, "e", tmp_path / "artifacts")
    run_id = client.create_run(experiment).info.run_id
    _, parcels = shipping.relocate(_inputs(tmp_path), model_is_here=True)
    shipping.pack(client, run_id, parcels)
    job = tmp_path / "job"
    fetch = [{"name": p.name, "digest": p.digest} for p in parcels]
    shipping.unpack(client, run_id, fetch, job)
    assert (job / "inputs" / "train.parquet").read_bytes() == b"train.parquet"
    assert (job / "inputs" / "model" / "config.json").read_text() == "{}"
    fetch[0]["digest"] = "0" * 64
    with pytest.raises(
        ConfigError, match="input inputs/train.parquet has digest .* recorded 000000"
    ):
        shipping.unpack(client, run_id, fetch, tmp_path / "job2")
    client.set_terminated(run_id)


def test_a_store_the_nodes_cannot_reach_is_refused_before_any_run(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="is a file on this machine, which the cluster's nodes"):
        shipping.check(compose(REMOTE))  # the default: sqlite under the work directory
    shipping.check(compose([]))  # the local head sees this disk


def test_a_shared_dir_is_read_in_place_and_must_hold_the_checkout(
    workdir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.231.0.2:5055")
    shared = compose([*REMOTE, f"cluster.shared_dir={REPO_ROOT.parent}"])
    assert not shipping.ships(shared)
    with pytest.raises(ConfigError, match="the checkout .* is not under it"):
        shipping.check(compose([*REMOTE, "cluster.shared_dir=/nowhere"]))


def test_a_remote_job_runs_in_the_shipped_code_and_asks_for_a_cpu(workdir: Path) -> None:
    assert shipping.entrypoint("python -m rmsweep.job '{}'").startswith(
        'PYTHONPATH="$PWD/platform:$PWD${PYTHONPATH:+:$PYTHONPATH}" python'
    )
    env = shipping.runtime_env({"A": "1"}, REPO_ROOT)
    assert env["working_dir"] == str(REPO_ROOT) and "tests" in env["excludes"]
