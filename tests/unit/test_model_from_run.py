"""model.from_run: a run starts from another run's trained model, with its lineage recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rmsweep import checkpoint, names
from rmsweep.cli import main
from rmsweep.config import compose
from rmsweep.errors import CheckpointError
from rmsweep.record import CHECKED_DIGESTS, current_digests, prepare_inputs
from rmsweep.tiny_model import save_untrained
from rmsweep.tracking import ensure_experiment, tracking_client

TEXTS = ["Rate the response: <score>3</score>", "Which is better? <answer>[[A]]</answer>"]


def parent_run(workdir: Path, *, keep_model: bool = True) -> tuple[str, Path]:
    """A finished run whose job kept its model as a folder (no artifact), as an SFT run does."""
    client = tracking_client(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = ensure_experiment(client, "sft", workdir / "artifacts")
    run_id = client.create_run(experiment).info.run_id
    client.set_tag(run_id, names.DIGEST_TAG_PREFIX + "data.train", "d" * 64)
    model = save_untrained(workdir / "checkpoints" / run_id / "model", TEXTS, hidden_size=16)
    checkpoint.record(client, run_id, model, artifact_max_mb=0)
    client.set_terminated(run_id)
    if not keep_model:
        shutil.rmtree(model)
    return run_id, model


def test_the_run_starts_from_the_parents_model_and_records_its_lineage(workdir: Path) -> None:
    parent, model = parent_run(workdir)
    inputs = prepare_inputs(compose([f"model.from_run={parent}"]))
    assert Path(inputs.model_path) == model.resolve()
    assert inputs.model_digest == checkpoint.digest(model)
    assert inputs.lineage[names.TAG_PARENT_STAGE] == parent
    theirs = names.PARENT_DIGEST_TAG_PREFIX
    assert inputs.lineage[theirs + "data.train"] == "d" * 64
    assert inputs.lineage[theirs + checkpoint.DIGEST] == inputs.model_digest
    # reproduce compares the starting model's digest too
    assert "model" in CHECKED_DIGESTS
    assert current_digests(compose([f"model.from_run={parent}"]), inputs)["model"] == (
        inputs.model_digest
    )


def test_the_digest_changes_with_the_weights(tmp_path: Path) -> None:
    model = save_untrained(tmp_path / "m", TEXTS, hidden_size=16)
    before = checkpoint.digest(model)
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")
    assert checkpoint.digest(model) != before


def test_a_gone_checkpoint_is_refused_naming_the_run(workdir: Path) -> None:
    parent, model = parent_run(workdir, keep_model=False)
    with pytest.raises(CheckpointError, match=rf"^model.from_run: run {parent} has no checkpoint"):
        prepare_inputs(compose([f"model.from_run={parent}"]))


def test_run_train_from_a_run_without_a_checkpoint_exits_2_and_logs_nothing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parent, _ = parent_run(workdir, keep_model=False)
    client = tracking_client(f"sqlite:///{workdir / 'mlflow.db'}")
    before = client.search_runs([e.experiment_id for e in client.search_experiments()])
    monkeypatch.setattr("sys.argv", ["rmsweep", "run", "train", f"model.from_run={parent}"])
    capsys.readouterr()  # the set-up's own output (MLflow's store creation, transformers)
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: model.from_run: run {parent} has no checkpoint"), lines
    after = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(after) == len(before)


def test_a_checkpoint_changed_since_its_run_saved_it_is_refused(workdir: Path) -> None:
    parent, model = parent_run(workdir)
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x02")
    with pytest.raises(CheckpointError, match=rf"run {parent}'s checkpoint .* changed since"):
        prepare_inputs(compose([f"model.from_run={parent}"]))


def test_a_parent_trained_on_another_template_is_noted_and_recorded(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent, _ = parent_run(workdir)
    client = tracking_client(f"sqlite:///{workdir / 'mlflow.db'}")
    client.set_tag(parent, names.TAG_TEMPLATE, "pointwise_rubric")
    inputs = prepare_inputs(compose([f"model.from_run={parent}"]))  # template pointwise_plain
    assert inputs.lineage[names.TAG_PARENT_STAGE + ".template"] == "pointwise_rubric"
    assert "was trained on template 'pointwise_rubric'" in capsys.readouterr().err
