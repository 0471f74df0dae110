"""The MLflow record of a run, against a real sqlite store in tmp_path."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from rmsweep import names
from rmsweep.errors import ConfigError
from rmsweep.tracking import (
    DatasetRef,
    create_run,
    ensure_experiment,
    finish_run,
    log_dataset,
    log_text_artifact,
    package_versions,
    record_run,
    tracking_client,
)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[MlflowClient, Path]:
    """A client on a fresh sqlite file, run from an empty cwd (nothing may land there)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tracking_client(f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}"), tmp_path / "artifacts"


def _artifact(client: MlflowClient, run_id: str, path: str, dst: Path) -> bytes:
    return Path(client.download_artifacts(run_id, path, str(dst))).read_bytes()


def _parquet(path: Path, rows: int) -> Path:
    pq.write_table(pa.table({"prompt": ["p"] * rows, "score": list(range(rows))}), path)
    return path


def test_experiment_is_created_once_under_artifact_root(store, tmp_path: Path) -> None:
    client, root = store
    exp_id = ensure_experiment(client, "rm sweep/1", root)
    assert ensure_experiment(client, "rm sweep/1", tmp_path / "elsewhere") == exp_id
    location = client.get_experiment(exp_id).artifact_location
    assert location == (root / "rm_sweep_1").resolve().as_uri()


def test_deleted_experiment_is_a_config_error(store) -> None:
    client, root = store
    client.delete_experiment(ensure_experiment(client, "gone", root))
    with pytest.raises(ConfigError, match="'gone' is deleted"):
        ensure_experiment(client, "gone", root)


def test_run_gets_tags_params_in_batches_and_parent(store) -> None:
    client, root = store
    exp_id = ensure_experiment(client, "e", root)
    parent = create_run(client, exp_id, run_name="study", tags={}, params={})
    params = {f"p.k{i:03d}": str(i) for i in range(250)}
    run_id = create_run(
        client,
        exp_id,
        run_name="trial-1",
        tags={names.TAG_DEVICE: "cpu", names.TAG_JOB_ID: "job-1"},
        params=params,
        parent_run_id=parent,
    )
    run = client.get_run(run_id)
    assert run.info.run_name == "trial-1"
    assert run.data.params == params
    assert run.data.tags[names.TAG_DEVICE] == "cpu"
    assert run.data.tags[names.TAG_JOB_ID] == "job-1"
    assert run.data.tags[names.TAG_PARENT] == parent
    assert run.data.tags[names.TAG_STATE] == "running"
    for created in (run_id, parent):
        finish_run(client, created, "complete")


def test_text_artifact_digest_matches_stored_bytes(store, tmp_path: Path) -> None:
    client, root = store
    run_id = create_run(
        client, ensure_experiment(client, "e", root), run_name="r", tags={}, params={}
    )
    text = "def reward(x):\n    return 1.0  # ünïcode\n"
    digest = log_text_artifact(client, run_id, text, "reward/reward.py")
    stored = _artifact(client, run_id, "reward/reward.py", tmp_path / "dl")
    assert digest == hashlib.sha256(stored).hexdigest() == hashlib.sha256(text.encode()).hexdigest()
    finish_run(client, run_id, "complete")


def test_dataset_input_carries_our_digest(store, tmp_path: Path) -> None:
    client, root = store
    run_id = create_run(
        client, ensure_experiment(client, "e", root), run_name="r", tags={}, params={}
    )
    path = _parquet(tmp_path / "train.parquet", 7)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    log_dataset(client, run_id, path=path, digest=digest, name="synthetic/train", context="train")
    (entry,) = client.get_run(run_id).inputs.dataset_inputs
    assert entry.dataset.name == "synthetic/train"
    assert entry.dataset.digest == digest[:36]
    assert str(path.resolve()) in entry.dataset.source
    assert '"num_rows": 7' in entry.dataset.profile
    assert {t.key: t.value for t in entry.tags} == {
        "mlflow.data.context": "train",
        "rmsweep.digest": digest,
    }
    finish_run(client, run_id, "complete")


@pytest.mark.parametrize(
    ("state", "status"),
    [("complete", "FINISHED"), ("failed", "FAILED"), ("killed", "KILLED"), ("pruned", "KILLED")],
)
def test_finish_run_sets_state_and_status_once(store, state: str, status: str) -> None:
    client, root = store
    run_id = create_run(
        client, ensure_experiment(client, "e", root), run_name="r", tags={}, params={}
    )
    finish_run(client, run_id, state)
    first = client.get_run(run_id)
    finish_run(client, run_id, state)
    again = client.get_run(run_id)
    assert first.info.status == status
    assert first.data.tags[names.TAG_STATE] == state
    assert again.info.end_time == first.info.end_time


def test_finish_run_rejects_unknown_state(store) -> None:
    client, root = store
    run_id = create_run(
        client, ensure_experiment(client, "e", root), run_name="r", tags={}, params={}
    )
    with pytest.raises(ValueError, match="'running'"):
        finish_run(client, run_id, "running")
    finish_run(client, run_id, "complete")


def _full_record(client: MlflowClient, root: Path, tmp_path: Path, cfg: dict, overrides: list[str]):
    train = _parquet(tmp_path / "train.parquet", 5)
    val = _parquet(tmp_path / "val.parquet", 2)
    return record_run(
        client,
        ensure_experiment(client, "sweep", root),
        run_name="t-linear-s0",
        config=cfg,
        overrides=overrides,
        tags={
            names.TAG_DEVICE: "cpu",
            names.TAG_JOB_ID: "rmsweep-job-1",
            names.TAG_TEMPLATE: "think_score",
            names.TAG_REWARD_SHAPE: "linear",
        },
        texts={
            "reward": ("reward/pointwise.py", "def score(x):\n    return x\n"),
            "template": ("template/rendered.txt", "Rate this answer from 1 to 5.\n"),
        },
        datasets=[
            DatasetRef(
                "synthetic/train", train, hashlib.sha256(train.read_bytes()).hexdigest(), "train"
            ),
            DatasetRef("synthetic/val", val, hashlib.sha256(val.read_bytes()).hexdigest(), "val"),
        ],
    )


def test_full_record_lands(store, tmp_path: Path) -> None:
    client, root = store
    cfg = {"reward": {"shape": "linear", "k": None}, "template": {"name": "think_score"}}
    run_id = _full_record(client, root, tmp_path, cfg, ["reward.shape=linear"])
    run = client.get_run(run_id)
    tags, dl = run.data.tags, tmp_path / "dl"
    assert run.data.params == {
        "reward.k": "null",
        "reward.shape": "linear",
        "template.name": "think_score",
    }
    assert tags[names.TAG_JOB_ID] == "rmsweep-job-1"
    assert tags[names.TAG_TEMPLATE] == "think_score"
    assert tags[names.TAG_REWARD_SHAPE] == "linear"
    assert tags[names.TAG_VERSION] == package_versions()["rmsweep"]
    assert tags["rmsweep.pkg.mlflow"] == package_versions()["mlflow"]
    assert len(tags[f"{names.DIGEST_TAG_PREFIX}code"]) == 64
    for key, artifact in [
        ("config", "config/resolved.yaml"),
        ("reward", "reward/pointwise.py"),
        ("template", "template/rendered.txt"),
    ]:
        stored = _artifact(client, run_id, artifact, dl)
        assert tags[f"{names.DIGEST_TAG_PREFIX}{key}"] == hashlib.sha256(stored).hexdigest()
    assert b"shape: linear" in _artifact(client, run_id, "config/resolved.yaml", dl)
    assert _artifact(client, run_id, "config/overrides.txt", dl) == b"reward.shape=linear\n"
    assert b"mlflow==" in _artifact(client, run_id, "env/requirements.txt", dl)
    _artifact(client, run_id, "code/git.diff", dl)  # present, possibly empty
    inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"synthetic/train", "synthetic/val"}
    for context, name in (("train", "synthetic/train"), ("val", "synthetic/val")):
        full = tags[f"{names.DIGEST_TAG_PREFIX}data.{context}"]
        assert inputs[name].dataset.digest == full[:36]
    assert not (tmp_path / "cwd" / "mlruns").exists()
    assert list((root / "sweep").iterdir())  # artifacts live under the artifact root
    finish_run(client, run_id, "complete")


def test_secrets_never_reach_the_store(store, tmp_path: Path, monkeypatch) -> None:
    client, root = store
    env_secret = f"envsecret-{secrets.token_hex(8)}"
    cfg_secret = f"cfgsecret-{secrets.token_hex(8)}"
    ovr_secret = f"ovrsecret-{secrets.token_hex(8)}"
    monkeypatch.setenv("RMSWEEP_TEST_API_TOKEN", env_secret)
    cfg = {
        "trainer": {"lr": 1e-6, "wandb_api_key": cfg_secret},
        "data": {"url": f"https://user:{env_secret}@host/data"},
    }
    overrides = ["trainer.lr=1e-6", f"+extra.hf_token={ovr_secret}"]
    run_id = _full_record(client, root, tmp_path, cfg, overrides)
    job_log = f"starting\nenv: {env_secret}\nconfig: {cfg_secret} {ovr_secret}\ndone\n"
    log_text_artifact(client, run_id, job_log, "job/driver.log", secrets=[cfg_secret, ovr_secret])
    finish_run(client, run_id, "complete")

    stored = _artifact(client, run_id, "job/driver.log", tmp_path / "dl")
    assert stored == b"starting\nenv: ***\nconfig: *** ***\ndone\n"
    assert client.get_run(run_id).data.params["data.url"] == "https://user:***@host/data"
    store_files = [p for p in tmp_path.rglob("*") if p.is_file() and "dl" not in p.parts]
    assert any(p.name == "mlflow.db" for p in store_files)
    assert any(p.name == "driver.log" for p in store_files)
    for path in store_files:
        content = path.read_bytes()
        for value in (env_secret, cfg_secret, ovr_secret):
            assert value.encode() not in content, (path, value)
