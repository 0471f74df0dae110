"""Templates in MLflow's Prompt Registry: one prompt per template, one version per text.

A run's template, as its canonical text (``templates.template_text``, whose sha256 is the
template digest), is the prompt ``rmsweep-<template name>``. The same text always maps to the
version that already holds it; only a changed text makes a new version. The run records
``prompts:/<name>/<version>`` (tag ``rmsweep.prompt``) and MLflow's own link to it
(``mlflow.linkedPrompts``, shown on the run page); ``reproduce`` checks that this version
still holds the text it would run with.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rmsweep import names

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import PromptVersion

PROMPT_PREFIX = "rmsweep-"
LINKED_PROMPTS_TAG = "mlflow.linkedPrompts"  # MLflow's run -> prompt versions link
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")  # MLflow's prompt-name rule


def prompt_name(template_name: str) -> str:
    """``pointwise_plain`` -> ``rmsweep-pointwise_plain``."""
    return PROMPT_PREFIX + _UNSAFE.sub("_", template_name)


def register_template(client: MlflowClient, template_name: str, text: str) -> PromptVersion:
    """The prompt version holding ``text``: the existing one, else a new version.

    Args:
        client: the run's tracking client (its registry is the tracking store's).
        template_name: the template's name (``cfg.template.name``).
        text: its canonical text.

    Returns:
        The version; registering the same text again returns the same version.
    """
    from mlflow.exceptions import MlflowException

    from rmsweep.tracking import sha256_text

    name, digest = prompt_name(template_name), sha256_text(text)
    found = find_version(client, name, text)
    if found is not None:
        return found
    try:
        client.register_prompt(
            name,
            text,
            commit_message=f"rmsweep template {template_name}, sha256 {digest[:12]}",
            tags={names.TAG_DIGEST: digest},
        )
    except MlflowException:  # another process created the prompt first: use its version
        pass
    # Two processes registering one new text at once make two versions: both pick the first.
    found = find_version(client, name, text)
    if found is None:
        raise RuntimeError(f"prompt {name!r}: registered, but no version holds the text")
    return found


def find_version(client: MlflowClient, name: str, text: str) -> PromptVersion | None:
    """The lowest version of prompt ``name`` whose text is ``text`` (None: none or no prompt)."""
    if client.get_prompt(name) is None:
        return None
    matching = []
    token = None
    while True:
        page = client.search_prompt_versions(name, max_results=100, page_token=token)
        matching += [v for v in page if v.template == text]
        token = page.token
        if not token:
            break
    return min(matching, key=lambda v: int(v.version), default=None)


def link_to_run(client: MlflowClient, run_id: str, version: PromptVersion) -> None:
    """Record on the run which prompt version it used: ``rmsweep.prompt`` and MLflow's link.

    (``MlflowClient.link_prompt_version_to_run`` writes through the global tracking store,
    not the client's; the tag is written here in MLflow's own format instead.)
    """
    from mlflow.entities import RunTag
    from mlflow.tracing.utils.prompt import update_linked_prompts_tag

    current = client.get_run(run_id).data.tags.get(LINKED_PROMPTS_TAG)
    linked = update_linked_prompts_tag(current, [version])
    tags = [RunTag(names.TAG_PROMPT, version_uri(version)), RunTag(LINKED_PROMPTS_TAG, linked)]
    client.log_batch(run_id, tags=tags)


def version_uri(version: PromptVersion) -> str:
    return f"prompts:/{version.name}/{version.version}"


def recorded_text(client: MlflowClient, uri: str) -> str | None:
    """The text of the prompt version ``prompts:/<name>/<version>`` (None: it is gone)."""
    from mlflow.exceptions import MlflowException

    name, _, version = uri.removeprefix("prompts:/").rpartition("/")
    try:
        found = client.get_prompt_version(name, version)
    except MlflowException:
        return None
    return None if found is None else found.template
