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
    assert "@job/inputs/train.parquet" in text and "@code/reward_fns/pointwise.py" in text
    assert "@code/platform/rmsweep/verl_cpu/" in text  # the cpu extension's yaml files
    assert spec.eval and spec.eval["benches"] == {"rmbench": "@job/inputs/eval/rmbench/bench.json"}
    assert [p["name"] for p in spec.fetch or []] == [
        "train.parquet", "val.parquet", "model", "eval/rmbench/bench.json"
    ]  # fmt: skip
    assert spec.artifact_max_mb == float("inf")  # the model is always logged
    localized = shipping.localize(json.loads(text), Path("/code"), Path("/code/runs/r1"))
    assert "@job" not in json.dumps(localized) and "@code" not in json.dumps(localized)
    assert "data.train_files=/code/runs/r1/inputs/train.parquet" in localized["trainer_args"]
    assert (
        "reward.custom_reward_function.path=/code/reward_fns/pointwise.py"
        in localized["trainer_args"]
    )


def test_parcels_travel_through_the_run_and_their_digests_are_checked(
    tmp_path: Path, workdir: Path
) -> None:
    client = tracking_client(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = ensure_experiment(client, "e", tmp_path / "artifacts")
    run_id = client.create_run(experiment).info.run_id
    _, parcels = shipping.relocate(_inputs(tmp_path), model_is_here=True)
    shipping.pack(client, run_id, parcels)
    job = shipping.run_dir(tmp_path / "code", run_id)
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


def test_a_model_another_run_logged_is_fetched_from_it_not_uploaded_again(
    tmp_path: Path, workdir: Path
) -> None:
    client = tracking_client(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = ensure_experiment(client, "e", tmp_path / "artifacts")
    inputs = _inputs(tmp_path)
    sft = client.create_run(experiment).info.run_id
    client.log_artifacts(sft, inputs.model_path, "checkpoint")
    grpo = client.create_run(experiment).info.run_id
    _, parcels = shipping.relocate(inputs, model_is_here=True, model_run=(sft, "checkpoint"))
    shipping.pack(client, grpo, parcels)
    assert [a.path for a in client.list_artifacts(grpo, "inputs")] == [
        "inputs/train.parquet", "inputs/val.parquet"
    ]  # fmt: skip
    job = shipping.run_dir(tmp_path / "code", grpo)
    fetch = [
        {"name": p.name, "digest": p.digest, "run": p.run, "artifact": p.artifact} for p in parcels
    ]
    shipping.unpack(client, grpo, fetch, job)
    assert (job / "inputs" / "model" / "config.json").read_text() == "{}"
    client.log_text(sft, "changed", "checkpoint/config.json")  # the other run's model changed
    with pytest.raises(ConfigError, match=f"input checkpoint \\(of run {sft}\\)|has digest"):
        shipping.unpack(client, grpo, fetch, tmp_path / "job2")
    for run in (sft, grpo):
        client.set_terminated(run)


def test_what_the_nodes_cannot_reach_is_refused_before_any_run(workdir: Path, monkeypatch) -> None:
    refused = "keeps the runs' artifacts on this machine, which the cluster's nodes cannot reach"
    with pytest.raises(ConfigError, match=refused):
        shipping.check(compose(REMOTE))  # the default: sqlite under the work directory
    with pytest.raises(ConfigError, match=refused):  # a database, artifacts on this disk
        shipping.check(compose([*REMOTE, "tracking.uri=postgresql://db/mlflow"]))
    shipping.check(
        compose([*REMOTE, "tracking.uri=postgresql://db/m", "tracking.artifact_root=s3://b/a"])
    )
    shipping.check(compose([]))  # the local head sees this disk
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.231.0.2:5055")
    with pytest.raises(ConfigError, match="device=gpu on a cluster without cluster.shared_dir"):
        shipping.check(compose([*REMOTE, "device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"]))


def test_an_experiment_keeping_artifacts_on_this_disk_is_refused(tmp_path: Path) -> None:
    client = tracking_client(f"sqlite:///{tmp_path}/mlflow.db")
    local = ensure_experiment(client, "local", tmp_path / "artifacts")
    with pytest.raises(ConfigError, match="keeps its artifacts at file:"):
        shipping.check_experiment(client, local)
    served = client.create_experiment("served", artifact_location="mlflow-artifacts:/served")
    shipping.check_experiment(client, served)


def test_the_checkout_is_relocated_only_where_a_path_starts(workdir: Path, tmp_path: Path) -> None:
    spec = verl.JobSpec(
        trainer_args=[f"a={REPO_ROOT}/x", "b=/mnt/x", f"c='{REPO_ROOT}/y z'"],
        verl_checkpoint_dir=f"{REPO_ROOT}/ck",
        model_dir="/elsewhere/model",
        artifact_max_mb=1.0,
    )
    shipped, _ = shipping.ship(spec, [], REPO_ROOT)
    assert shipped.trainer_args[0] == "a=@code/x" and shipped.trainer_args[2] == "c='@code/y z'"
    assert shipped.verl_checkpoint_dir == "@code/ck" and shipped.model_dir == "/elsewhere/model"
    with pytest.raises(ConfigError, match="still names"):  # not at a path's start: refused
        shipping.ship(
            spec.__class__(**{**spec.__dict__, "trainer_args": [f"b=/mnt{REPO_ROOT}/x"]}),
            [],
            REPO_ROOT,
        )


def test_a_shared_dir_is_read_in_place_and_must_hold_the_checkout(
    workdir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.231.0.2:5055")
    shared = compose([*REMOTE, f"cluster.shared_dir={REPO_ROOT.parent}"])
    assert not shipping.ships(shared)
    with pytest.raises(ConfigError, match="the checkout .* is not under it"):
        shipping.check(compose([*REMOTE, "cluster.shared_dir=/nowhere"]))


@pytest.mark.parametrize(
    ("address", "shipped"),
    [
        ("http://10.231.0.11:8265", True),
        ("ray://head.example:10001", True),
        ("10.0.0.5:6379", True),
        ("http://127.0.0.1:8265", False),  # a head on this machine reads this disk
        ("localhost:6379", False),
        ("auto", False),
    ],
)
def test_only_a_head_on_another_machine_ships(workdir: Path, address: str, shipped: bool) -> None:
    assert shipping.ships(compose(["cluster=ray", f"cluster.address={address}"])) is shipped


def test_a_remote_job_runs_in_the_shipped_code_and_asks_for_a_cpu(workdir: Path) -> None:
    assert shipping.entrypoint("python -m rmsweep.job '{}'").startswith(
        'PYTHONPATH="$PWD/platform:$PWD${PYTHONPATH:+:$PYTHONPATH}" python'
    )
    assert "tests" in shipping.EXCLUDES and ".git" in shipping.EXCLUDES
