"""``prepare_dataset``: data config + template -> cached train/val parquet for veRL (RL rows;
SFT ``messages`` rows for the ``traces`` source)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rmsweep.data import _helpsteer2, _pairs, _synthetic, _traces, _ultrafeedback
from rmsweep.data._cache import inputs_digest, publish, read_manifest, write_manifest
from rmsweep.data._config import repo_root
from rmsweep.data._records import BadRows, PairItem, PointItem, Source, iter_rows, resolve_source
from rmsweep.data._split import split_by_prompt
from rmsweep.data._writer import to_rows, write_parquet
from rmsweep.errors import DataError
from rmsweep.schema import DATA_DEFAULTS, validate_data_config, validate_template

MAX_REPORTED = 20  # bad-row messages kept in the manifest / PreparedData


@dataclass(frozen=True)
class PreparedData:
    """What ``prepare_dataset`` made (or found in its cache)."""

    train_path: Path
    val_path: Path
    train_digest: str  # sha256 of the train parquet's bytes
    val_digest: str
    inputs_digest: str  # the cache key: source content, options, template, format version
    data_source: str
    task: str
    n_train: int
    n_val: int
    n_skipped: int
    cache_hit: bool
    skipped_rows: tuple[str, ...] = ()  # the first few bad rows, "file:line: field 'x': why"
    layout: str = ""  # the pair layout read ("hh-rlhf transcripts"); "" for other sources
    n_traces: int = 0  # traces source: good traces read, and those dropped (verdict != label)
    n_traces_dropped: int = 0


def prepare_dataset(
    data_cfg: Mapping[str, Any],
    template: Mapping[str, Any],
    cache_dir: Path,
    *,
    native_thinking: bool = False,
) -> PreparedData:
    """Load, split, render and write train/val parquet files, or reuse a cached pair.

    Args:
        data_cfg: A data config (``configs/data/*.yaml`` keys; missing keys take defaults).
        template: A template (``load_template`` output or Hydra's ``cfg.template``).
        cache_dir: Parent folder; each input combination gets its own sub-folder.
        native_thinking: Render for a model with a native thinking mode (see templates).

    Returns:
        PreparedData with paths, sha256 digests, counts and whether the cache was hit.

    Raises:
        DataError: A bad row under ``strict``, a missing file, or a data task that does not
            match the template's task.
        ConfigError: An invalid data config or template.
    """
    cfg = validate_data_config(dict(data_cfg))
    tmpl = validate_template(template)
    if tmpl["task"] != cfg["task"]:
        raise DataError(
            f"data {cfg['name']!r} is {cfg['task']} but template {tmpl['name']!r} is "
            f"{tmpl['task']}: pick a {cfg['task']} template"
        )
    key = inputs_digest(cfg, tmpl, native_thinking, repo_root())
    out = Path(cache_dir) / f"{cfg['name']}-{tmpl['name']}-{key[:16]}"
    if (hit := _cached(out, key)) is not None:
        return hit

    layout = ""
    traces: _traces.LoadedTraces | None = None
    if cfg["source"] == "synthetic":
        bad = BadRows(strict=True)
        train, val = _synthetic_split(cfg)
    elif cfg["source"] == "traces":
        source = resolve_source(cfg["path"], repo_root())
        bad = BadRows(strict=cfg["strict"], base=source.base)
        traces = _traces.load(iter_rows(source, cfg["max_rows"]), bad)
        if traces.n_read and not traces.kept:
            kept = _traces.kept_traces_line(traces.n_read, traces.n_dropped)
            raise DataError(f"data {cfg['name']!r}: {kept}: nothing left to train on")
        train, val = _split(cfg, traces.kept, bad)
        layout = traces.layout
    else:
        source = resolve_source(cfg["path"], repo_root())
        bad = BadRows(strict=cfg["strict"], base=source.base)
        train, val, layout = _source_split(cfg, source, bad)
    if not train or not val:
        raise DataError(f"data {cfg['name']!r}: {len(train)} train / {len(val)} val rows left")
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=cache_dir))
    try:
        digests = {}
        for split, items in (("train", train), ("val", val)):
            path = tmp / f"{split}.parquet"
            if traces is not None:  # SFT rows: the RL prompt, then the teacher's trace
                sft_rows = _traces.to_sft_rows(
                    items,
                    split=split,
                    data_source=cfg["name"],
                    template=tmpl,
                    native_thinking=native_thinking,
                )
                digests[split] = _traces.write_sft_parquet(sft_rows, path)
            else:
                rows = to_rows(
                    items,
                    split=split,
                    data_source=cfg["name"],
                    template=tmpl,
                    seed=cfg["seed"],
                    attribute=cfg["attribute"] if cfg["task"] == "pointwise" else None,
                    native_thinking=native_thinking,
                )
                digests[split] = write_parquet(rows, cfg["task"], path)
        result = PreparedData(
            train_path=out / "train.parquet",
            val_path=out / "val.parquet",
            train_digest=digests["train"],
            val_digest=digests["val"],
            inputs_digest=key,
            data_source=cfg["name"],
            task=cfg["task"],
            n_train=len(train),
            n_val=len(val),
            n_skipped=len(bad.messages),
            cache_hit=False,
            skipped_rows=tuple(bad.messages[:MAX_REPORTED]),
            layout=layout,
            n_traces=traces.n_read if traces else 0,
            n_traces_dropped=traces.n_dropped if traces else 0,
        )
        manifest = {**asdict(result), "config": cfg, "template": tmpl["name"]}
        manifest.update(train_path="train.parquet", val_path="val.parquet")
        write_manifest(tmp, manifest)
        publish(tmp, out, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _synthetic_split(cfg: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    n_train = cfg["n_train"] or DATA_DEFAULTS["n_train"]
    n_val = cfg["n_val"] or DATA_DEFAULTS["n_val"]
    seed = cfg["seed"]
    if cfg["task"] == "pairwise":
        return _synthetic.pairs(n_train, seed, "train"), _synthetic.pairs(n_val, seed, "val")
    attribute = cfg["attribute"]
    return (
        _synthetic.points(n_train, seed, "train", attribute),
        _synthetic.points(n_val, seed, "val", attribute),
    )


def _source_split(
    cfg: Mapping[str, Any], source: Source, bad: BadRows
) -> tuple[list[Any], list[Any], str]:
    rows = iter_rows(source, cfg["max_rows"])
    items: list[PointItem] | list[PairItem]
    layout = ""
    if cfg["source"] == "helpsteer2":
        items = _helpsteer2.load(rows, cfg["attribute"], bad)
    elif cfg["source"] == "ultrafeedback" and cfg["task"] == "pointwise":
        items = _ultrafeedback.load(rows, bad)
    else:
        pairs, layout = _pairs.load(rows, bad)
        items = pairs
    train, val = _split(cfg, items, bad)
    return train, val, layout


def _split(
    cfg: Mapping[str, Any], items: Sequence[Any], bad: BadRows
) -> tuple[list[Any], list[Any]]:
    if not items:
        first = f"; first: {bad.messages[0]}" if bad.messages else ""
        raise DataError(f"data {cfg['name']!r}: no usable rows ({len(bad.messages)} bad{first})")
    return split_by_prompt(
        items,
        seed=cfg["seed"],
        val_fraction=cfg["val_fraction"],
        n_train=cfg["n_train"],
        n_val=cfg["n_val"],
    )


def _cached(out: Path, key: str) -> PreparedData | None:
    manifest = read_manifest(out, key)
    if manifest is None:
        return None
    kept = {f.name: manifest[f.name] for f in fields(PreparedData) if f.name in manifest}
    kept.update(
        train_path=out / "train.parquet",
        val_path=out / "val.parquet",
        cache_hit=True,
        skipped_rows=tuple(manifest.get("skipped_rows", ())),
    )
    return PreparedData(**kept)
