"""Build the tiny model once per content hash: train, check, and publish atomically."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rmsweep.errors import DataError
from rmsweep.schema import TinyModelConf
from rmsweep.tiny_model._config import tiny_config
from rmsweep.tiny_model._data import (
    Example,
    answer_text,
    check_parser,
    file_sha256,
    label_set,
    read_examples,
)

# Bump when a change here would build a different model from the same inputs.
CODE_VERSION = "tiny-2"
# Written last, inside the build dir, before it is renamed into place: its presence (with the
# right digest) is what makes a cache entry complete.
MANIFEST = "rmsweep_tiny.json"
MAX_HELDOUT = 200


@dataclass(frozen=True)
class TinyModel:
    """A built tiny model.

    Attributes:
        path: HF model dir (config, model.safetensors, tokenizer with chat template).
        digest: sha256 of the build inputs; also the dir's name under the cache.
        cache_hit: True when an earlier build was reused.
        warmstart_metrics: what the warm-start did and how its greedy answers scored.
    """

    path: Path
    digest: str
    cache_hit: bool
    warmstart_metrics: dict[str, Any] = field(default_factory=dict)


def build_tiny_model(
    model_cfg: Mapping[str, Any],
    train_parquet: Path,
    cache_dir: Path,
    *,
    parser: str,
    seed: int = 0,
) -> TinyModel:
    """Build (or reuse) the tiny model for this training data.

    Trains a byte-level BPE tokenizer on the prompts, initialises a Qwen2-style causal LM,
    warm-starts it on well-formed answers (the true label with probability
    ``model.tiny.true_label_prob``, else a random one) and checks its greedy answers on a
    held-out slice. The result is cached under ``cache_dir/<digest>``; the digest covers
    ``model_cfg["tiny"]``, the parquet's bytes, ``parser``, ``seed`` and CODE_VERSION.

    Args:
        model_cfg: the resolved ``model`` config (its ``tiny`` mapping is used).
        train_parquet: the prepared training data in veRL's schema.
        cache_dir: where built models live (created if absent).
        parser: ``"score"`` (``<score>K</score>``) or ``"verdict"`` (``<answer>[[A]]</answer>``).
        seed: seeds the tokenizer-independent randomness: init, targets, data order, held-out slice.

    Returns:
        The model's path, digest, whether it came from the cache, and the warm-start metrics.

    Raises:
        ConfigError: a bad ``model.tiny`` value or parser.
        DataError: the parquet is missing or has a bad row.

    Example:
        >>> m = build_tiny_model(cfg.model, Path("train.parquet"), Path(".rmsweep/models"),
        ...                      parser="score")  # doctest: +SKIP
        >>> AutoModelForCausalLM.from_pretrained(m.path)  # doctest: +SKIP
    """
    cfg, inputs = _inputs(model_cfg, Path(train_parquet), parser, seed)
    examples = read_examples(Path(train_parquet), parser)  # checked before any lock or dir
    digest = _digest(inputs)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / digest

    hit = _read_complete(final, digest)
    if hit is not None:
        return TinyModel(final, digest, True, hit)
    with _exclusive(cache_dir / f".{digest}.lock"):
        hit = _read_complete(final, digest)  # built by a process we waited for
        if hit is not None:
            return TinyModel(final, digest, True, hit)
        _clear_stale(cache_dir, digest)
        if final.exists():  # not ours to trust: no manifest, or another digest inside
            shutil.rmtree(final)
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{digest}-", dir=cache_dir))
        try:
            metrics = _build(cfg, examples, parser, seed, work)
            manifest = {"digest": digest, "inputs": inputs, "warmstart_metrics": metrics}
            _write_json(work / MANIFEST, manifest)
            try:
                os.replace(work, final)
            except OSError:  # a writer that ignored the lock (e.g. flock on NFS) got there first
                hit = _read_complete(final, digest)
                if hit is None:
                    raise
                return TinyModel(final, digest, True, hit)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return TinyModel(final, digest, False, metrics)


def input_digest(
    model_cfg: Mapping[str, Any], train_parquet: Path, *, parser: str, seed: int = 0
) -> str:
    """The cache key ``build_tiny_model`` would use for these inputs (nothing is built)."""
    return _digest(_inputs(model_cfg, Path(train_parquet), parser, seed)[1])


def _inputs(
    model_cfg: Mapping[str, Any], train_parquet: Path, parser: str, seed: int
) -> tuple[TinyModelConf, dict[str, Any]]:
    check_parser(parser)
    cfg = tiny_config(model_cfg)
    if not train_parquet.is_file():
        raise DataError(f"{train_parquet}: training parquet not found")
    return cfg, {
        "code_version": CODE_VERSION,
        "tiny": asdict(cfg),
        "train_sha256": file_sha256(train_parquet),
        "parser": parser,
        "seed": seed,
    }


def _digest(inputs: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _build(
    cfg: TinyModelConf, examples: list[Example], parser: str, seed: int, out: Path
) -> dict[str, Any]:
    import numpy as np
    import torch

    from rmsweep.tiny_model._tokenizer import reload_checked, train_tokenizer
    from rmsweep.tiny_model._warmstart import greedy_check, init_model, prompt_texts, warm_start

    start = time.perf_counter()
    labels = label_set(examples, parser)
    texts = [content for e in examples for _, content in e.messages]
    trained = train_tokenizer([*texts, *labels], cfg.vocab_size)
    trained.save_pretrained(out)

    order = np.random.default_rng(seed).permutation(len(examples))
    n_heldout = min(MAX_HELDOUT, len(examples) // 10)
    heldout = [examples[i] for i in order[:n_heldout]]
    train = [examples[i] for i in order[n_heldout:]]

    with _torch_determinism():
        model = init_model(cfg, trained, seed)
        model.config.save_pretrained(out)  # the tokenizer now loads as veRL will load it
        answers = [answer_text(parser, label) + trained.eos_token for label in labels]
        tokenizer = reload_checked(out, trained, prompt_texts(trained, examples) + answers)
        fit = warm_start(
            model,
            tokenizer,
            train,
            labels,
            cfg,
            parser=parser,
            seed=seed,
            scratch=out / "_trainer",
            heldout=heldout,
        )
        shutil.rmtree(out / "_trainer", ignore_errors=True)
        check = greedy_check(model, tokenizer, heldout, parser=parser)
    model.save_pretrained(out)
    return {
        **{f"warmstart_{k}": v for k, v in fit.items()},
        **{f"heldout_{k}": v for k, v in check.items()},
        "train_rows": len(train),
        "labels": list(labels),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "build_time_s": round(time.perf_counter() - start, 2),
        "torch_threads": torch.get_num_threads(),
    }


@contextlib.contextmanager
def _torch_determinism() -> Iterator[None]:
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@contextlib.contextmanager
def _exclusive(lock_path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An advisory lock, so racing processes build a digest once and the others reuse it.

    Yields whether the lock is held (always True when ``wait``).
    """
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _clear_stale(cache_dir: Path, digest: str) -> None:
    """Remove temp dirs left by killed builds (those whose digest no process holds locked)."""
    for stale in cache_dir.glob(".tmp-*"):
        other = stale.name[len(".tmp-") :].split("-")[0]
        if other == digest:  # ours: we hold its lock, so no one else is writing it
            shutil.rmtree(stale, ignore_errors=True)
            continue
        with _exclusive(cache_dir / f".{other}.lock", wait=False) as free:
            if free:
                shutil.rmtree(stale, ignore_errors=True)


def _read_complete(path: Path, digest: str) -> dict[str, Any] | None:
    """The cached entry's metrics if ``path`` is a complete build of ``digest``, else None."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("digest") != digest:
        return None
    return manifest.get("warmstart_metrics", {})


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
