"""Templates in MLflow's Prompt Registry, against a real sqlite store: one version per text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rmsweep import names, prompts, templates
from rmsweep.config import compose
from rmsweep.reproduce import prompt_matches
from rmsweep.tracking import tracking_client


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    return tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_the_same_text_is_the_same_version_and_a_new_text_a_new_one(client) -> None:
    plain = templates.template_text(templates.load_template("pointwise_plain"))
    first = prompts.register_template(client, "pointwise_plain", plain)
    again = prompts.register_template(client, "pointwise_plain", plain)
    assert first.name == "rmsweep-pointwise_plain"
    assert (again.name, again.version) == (first.name, first.version)
    assert again.template == plain
    changed = prompts.register_template(client, "pointwise_plain", plain + "\n")
    assert int(changed.version) == int(first.version) + 1
    back = prompts.register_template(client, "pointwise_plain", plain)
    assert back.version == first.version  # an old text maps back to its version
    assert len(list(client.search_prompt_versions(first.name))) == 2
    other = prompts.register_template(client, "pairwise verdict", plain)
    assert other.name == "rmsweep-pairwise_verdict" and int(other.version) == 1


def test_a_run_records_its_prompt_version_for_mlflow_and_for_reproduce(client) -> None:
    experiment = client.create_experiment("e")
    run_id = client.create_run(experiment).info.run_id
    version = prompts.register_template(client, "pointwise_plain", "rate {response}")
    prompts.link_to_run(client, run_id, version)
    tags = client.get_run(run_id).data.tags
    assert tags[names.TAG_PROMPT] == f"prompts:/rmsweep-pointwise_plain/{version.version}"
    assert json.loads(tags["mlflow.linkedPrompts"]) == [
        {"name": "rmsweep-pointwise_plain", "version": str(version.version)}
    ]
    assert prompts.recorded_text(client, tags[names.TAG_PROMPT]) == "rate {response}"
    assert prompts.recorded_text(client, "prompts:/rmsweep-pointwise_plain/9") is None
    client.set_terminated(run_id)


def test_reproduce_checks_the_recorded_prompt_version(
    client, tmp_path: Path, workdir: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose(["template=pointwise_plain"])
    text = templates.template_text(cfg.template)
    experiment = client.create_experiment("e")
    run_id = client.create_run(experiment).info.run_id
    prompts.link_to_run(client, run_id, prompts.register_template(client, "pointwise_plain", text))
    run = client.get_run(run_id)
    assert prompt_matches(run, cfg, uri)
    edited = compose(["template=pointwise_plain", "template.user='Rate {response} to {prompt}.'"])
    assert not prompt_matches(run, edited, uri)
    unrecorded = client.get_run(client.create_run(experiment).info.run_id)
    assert prompt_matches(unrecorded, edited, uri)  # recorded before prompts were registered
    for run_id in (run.info.run_id, unrecorded.info.run_id):
        client.set_terminated(run_id)
