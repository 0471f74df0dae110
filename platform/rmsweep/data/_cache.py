"""The prepared-data cache: one folder per inputs digest, a manifest, atomic publication.

A folder ``<name>-<template>-<digest[:16]>`` holds ``train.parquet``, ``val.parquet`` (each
with a ``.sha256`` beside it) and ``manifest.json`` (counts, digests, skipped rows, config). It
is built in a temporary sibling folder and renamed into place, so a reader never sees half of
one; an entry whose files no longer hash as recorded is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rmsweep.data._records import resolve_source
from rmsweep.data._writer import file_digest
from rmsweep.templates import template_digest

# Bump when the rows written for the same inputs change (it is part of every cache key).
FORMAT_VERSION = 2  # 2: multi-turn chat pairs keep their earlier turns in the prompt
SPLITS = ("train", "val")


def inputs_digest(
    cfg: Mapping[str, Any],
    tmpl: Mapping[str, Any],
    native_thinking: bool = False,
    root: Path | None = None,
) -> str:
    """The cache key: sha256 of the options, the source's content, the template and format.

    The source's path is not part of it (its content is), so the same file in another
    checkout hits the same entry. ``root`` resolves relative paths (default: the repo root).
    """
    from rmsweep.data._config import repo_root

    options = {k: v for k, v in cfg.items() if k != "path"}
    if cfg["source"] == "synthetic":
        content = "synthetic"
    else:
        content = resolve_source(cfg["path"], root or repo_root()).fingerprint()
    blob = {
        "format": FORMAT_VERSION,
        "options": options,
        "content": content,
        "template": template_digest(tmpl),
        "native_thinking": native_thinking,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def read_manifest(folder: Path, key: str) -> dict[str, Any] | None:
    """The entry's manifest if it is for ``key`` and both files still hash as recorded."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("inputs_digest") != key:
        return None
    for split in SPLITS:
        path = folder / f"{split}.parquet"
        if not path.is_file() or file_digest(path) != manifest.get(f"{split}_digest"):
            return None
    return manifest


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def publish(tmp: Path, out: Path, key: str) -> None:
    """Move the finished folder into place, keeping a valid copy a concurrent prepare made."""
    if out.exists():
        if read_manifest(out, key) is not None:
            return  # another prepare won the race; its files are byte-identical to ours
        shutil.rmtree(out)  # a damaged entry
    try:
        tmp.rename(out)
    except OSError:
        if read_manifest(out, key) is None:
            raise
