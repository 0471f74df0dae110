"""rmsweep.tiny_model: tokenizer, warm-start, content-hash cache, determinism, atomic builds."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pandas as pd
import pytest

from rmsweep.errors import ConfigError, DataError
from rmsweep.tiny_model import TinyModel, answer_text, build_tiny_model, parse_answer

FILLER = (
    "the answer is clear and it seems fine overall with some good points but also a few small "
    "issues that could be better explained for most readers here today"
).split()
KEYWORDS = [
    ["awful", "useless", "wrong"],
    ["weak", "vague", "sloppy"],
    ["okay", "average", "plain"],
    ["good", "solid", "helpful"],
    ["excellent", "superb", "perfect"],
]
# Small enough for a unit test (a few seconds), long enough to learn the answer format.
SMALL = {
    "hidden_size": 64,
    "num_layers": 2,
    "num_heads": 4,
    "vocab_size": 300,
    "warmstart_steps": 60,
    "warmstart_batch_size": 32,
    "warmstart_lr": 1e-3,
    "true_label_prob": 0.2,
    "warmstart_target_acc": 0.0,  # never stop early: the tests count warm-start steps
    "initializer_range": 0.02,
}


ENTRY_FILES = {
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "rmsweep_tiny.json",
}


def model_cfg(**tiny: object) -> dict:
    return {"name": "tiny", "path": None, "tiny": {**SMALL, **tiny}}


def synthetic_rows(n: int, seed: int, parser: str = "score") -> list[dict]:
    """Rows in veRL's schema: "Rate the response from 0 to 4. Response: <fillers + keyword>"."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        score = rng.randrange(5)
        words = [rng.choice(FILLER) for _ in range(rng.randint(4, 7))]
        words.insert(rng.randint(0, len(words)), rng.choice(KEYWORDS[score]))
        if parser == "score":
            text, truth = "Rate the response from 0 to 4. Response: " + " ".join(words), str(score)
        else:
            text = f"Which response is better? [A] {' '.join(words)} [B] {rng.choice(FILLER)}"
            truth = "A" if score >= 2 else "B"
        rows.append(
            {
                "data_source": "synthetic",
                "prompt": [{"role": "user", "content": text}],
                "ability": "reward_model",
                "reward_model": {"style": "rule", "ground_truth": truth},
                "extra_info": {"index": i, "split": "train"},
            }
        )
    return rows


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_parquet(path)
    return path


def complete_entries(cache: Path) -> list[Path]:
    """Cache entries a reader would take for a model (visible dirs)."""
    return [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def train_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet(tmp_path_factory.mktemp("data") / "train.parquet", synthetic_rows(300, 0))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, train_parquet: Path) -> TinyModel:
    cache = tmp_path_factory.mktemp("cache")
    return build_tiny_model(model_cfg(), train_parquet, cache, parser="score", seed=0)


def test_built_dir_loads_as_a_hf_model_the_way_verl_loads_it(built: TinyModel) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    assert not built.cache_hit
    assert ENTRY_FILES <= {p.name for p in built.path.iterdir()}
    config = AutoConfig.from_pretrained(built.path, attn_implementation="sdpa")
    assert config.architectures == ["Qwen2ForCausalLM"]
    model = AutoModelForCausalLM.from_pretrained(
        built.path, dtype=torch.float32, attn_implementation="sdpa"
    )
    tokenizer = AutoTokenizer.from_pretrained(built.path)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|end|>"
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello"}], add_generation_prompt=True, tokenize=False
    )
    assert ids.endswith("<|assistant|>")
    out = model(**tokenizer(ids, return_tensors="pt", add_special_tokens=False))
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize(
    ("parser", "labels"), [("score", ["0", "1", "2", "3", "4"]), ("verdict", ["A", "B"])]
)
def test_answer_tags_round_trip_in_a_few_tokens(
    built: TinyModel, parser: str, labels: list[str]
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(built.path)
    for label in labels:
        text = answer_text(parser, label)
        ids = tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        assert len(ids) <= 8, tokenizer.convert_ids_to_tokens(ids)
        assert ids[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
        assert parse_answer(parser, tokenizer.decode(ids[:-1])) == label


def test_warm_started_model_answers_in_format_on_unseen_prompts(built: TinyModel) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(built.path)
    model = AutoModelForCausalLM.from_pretrained(built.path).eval()
    rows = synthetic_rows(50, seed=99)
    well_formed = 0
    for row in rows:
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)
        ids = torch.tensor([prompt["input_ids"]])
        with torch.no_grad():
            out = model.generate(input_ids=ids, max_new_tokens=10, do_sample=False)
        completion = out[0, ids.shape[1] :].tolist()
        if tokenizer.eos_token_id in completion:
            text = tokenizer.decode(completion[: completion.index(tokenizer.eos_token_id)])
            well_formed += parse_answer("score", text) is not None
    assert well_formed / len(rows) >= 0.9
    metrics = built.warmstart_metrics
    assert metrics["heldout_rows"] == 30 and metrics["train_rows"] == 270
    assert metrics["heldout_format_rate"] >= 0.9
    assert 0.0 <= metrics["heldout_greedy_acc"] <= 1.0
    assert metrics["warmstart_steps"] == SMALL["warmstart_steps"]


def test_second_build_is_a_cache_hit_that_trains_nothing(
    built: TinyModel, train_parquet: Path
) -> None:
    weights = built.path / "model.safetensors"
    before = weights.stat()
    again = build_tiny_model(model_cfg(), train_parquet, built.path.parent, parser="score", seed=0)
    assert again.cache_hit and again.path == built.path and again.digest == built.digest
    assert again.warmstart_metrics == built.warmstart_metrics
    after = weights.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert complete_entries(built.path.parent) == [built.path]


def test_digest_covers_seed_parser_config_and_data_bytes(
    built: TinyModel, train_parquet: Path, tmp_path: Path
) -> None:
    from rmsweep.tiny_model._build import input_digest

    base = input_digest(model_cfg(), train_parquet, parser="score", seed=0)
    assert base == built.digest
    other_data = write_parquet(tmp_path / "other.parquet", synthetic_rows(300, 1))
    variants = {
        input_digest(model_cfg(), train_parquet, parser="score", seed=1),
        input_digest(model_cfg(), train_parquet, parser="verdict", seed=0),
        input_digest(model_cfg(true_label_prob=0.3), train_parquet, parser="score", seed=0),
        input_digest(model_cfg(), other_data, parser="score", seed=0),
    }
    assert len(variants) == 4 and base not in variants
    # Same values spelled differently (int vs float, key order) are the same inputs.
    respelled = {"tiny": dict(reversed(list({**SMALL, "true_label_prob": 0.2}.items())))}
    respelled["tiny"]["warmstart_lr"] = 0.001
    assert input_digest(respelled, train_parquet, parser="score", seed=0) == base


def test_same_inputs_build_identical_weights_in_another_cache(
    built: TinyModel, train_parquet: Path, tmp_path: Path
) -> None:
    twin = build_tiny_model(model_cfg(), train_parquet, tmp_path, parser="score", seed=0)
    assert not twin.cache_hit and twin.digest == built.digest
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert sha256(twin.path / name) == sha256(built.path / name), name
    other = build_tiny_model(model_cfg(), train_parquet, tmp_path, parser="score", seed=1)
    assert sha256(other.path / "model.safetensors") != sha256(built.path / "model.safetensors")


def test_verdict_parser_builds_a_model_answering_a_or_b(tmp_path: Path) -> None:
    data = write_parquet(tmp_path / "pairs.parquet", synthetic_rows(200, 3, parser="verdict"))
    model = build_tiny_model(model_cfg(), data, tmp_path / "cache", parser="verdict")
    assert model.warmstart_metrics["labels"] == ["A", "B"]
    assert model.warmstart_metrics["heldout_format_rate"] >= 0.9
    assert set(model.warmstart_metrics["heldout_answer_share"]) <= {"A", "B"}


def test_failure_mid_build_leaves_no_entry_and_no_temp_dir(
    train_parquet: Path, tmp_path: Path
) -> None:
    # 20 tokens cannot hold the alphabet: found only after the tokenizer is trained in the
    # build's temp dir.
    with pytest.raises(ConfigError, match=r"model\.tiny\.vocab_size=20 is too small"):
        build_tiny_model(model_cfg(vocab_size=20), train_parquet, tmp_path, parser="score")
    assert complete_entries(tmp_path) == []
    assert not list(tmp_path.glob(".tmp-*"))


def test_failure_after_weights_are_written_leaves_no_entry(
    train_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rmsweep.tiny_model import _build

    def fail_after_writing(*args: object, **kwargs: object) -> None:
        raise OSError("disk full (injected)")

    # The manifest is the last file written; failing there means everything else is in place.
    monkeypatch.setattr(_build, "_write_json", fail_after_writing)
    with pytest.raises(OSError, match="injected"):
        build_tiny_model(model_cfg(warmstart_steps=2), train_parquet, tmp_path, parser="score")
    assert complete_entries(tmp_path) == []
    assert not list(tmp_path.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("tiny", "match"),
    [
        ({"hidden_sise": 64}, r"unknown key\(s\) \['hidden_sise'\]"),
        ({"num_heads": 3}, r"hidden_size must be a multiple of model\.tiny\.num_heads"),
        ({"warmstart_lr": "fast"}, r"model\.tiny\.warmstart_lr must be float, got 'fast'"),
        ({"true_label_prob": 1.5}, r"model\.tiny\.true_label_prob must be in \[0, 1\]"),
        ({"num_layers": True}, r"model\.tiny\.num_layers must be int"),
    ],
)
def test_bad_config_values_are_named(
    train_parquet: Path, tmp_path: Path, tiny: dict, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        build_tiny_model(model_cfg(**tiny), train_parquet, tmp_path, parser="score")
    assert list(tmp_path.iterdir()) == []


def test_the_shipped_tiny_config_is_accepted(train_parquet: Path) -> None:
    from omegaconf import OmegaConf

    from rmsweep.tiny_model._build import input_digest

    shipped = Path(__file__).resolve().parents[2] / "configs" / "model" / "tiny.yaml"
    digest = input_digest(OmegaConf.load(shipped), train_parquet, parser="score")
    assert len(digest) == 64


def test_omitted_keys_take_the_schema_defaults_and_bad_inputs_are_config_errors(
    train_parquet: Path, tmp_path: Path
) -> None:
    from rmsweep.schema import TinyModelConf
    from rmsweep.tiny_model._config import tiny_config

    tiny = {k: v for k, v in SMALL.items() if k != "warmstart_steps"}
    assert tiny_config({"tiny": tiny}).warmstart_steps == TinyModelConf().warmstart_steps == 600
    with pytest.raises(ConfigError, match=r"model\.tiny must be a mapping"):
        build_tiny_model({"name": "tiny", "tiny": None}, train_parquet, tmp_path, parser="score")
    with pytest.raises(ConfigError, match=r"parser must be one of \['score', 'verdict'\]"):
        build_tiny_model(model_cfg(), train_parquet, tmp_path, parser="rating")


def test_bad_data_names_the_file_and_row(tmp_path: Path) -> None:
    rows = synthetic_rows(5, 0)
    rows[3]["reward_model"] = {"style": "rule", "ground_truth": "great"}
    bad = write_parquet(tmp_path / "bad.parquet", rows)
    with pytest.raises(DataError, match=rf"{bad}: row 3: .*integer score, got 'great'"):
        build_tiny_model(model_cfg(), bad, tmp_path / "cache", parser="score")
    first = rows[0]["reward_model"]["ground_truth"]
    with pytest.raises(DataError, match=rf"row 0: .*one of \['A', 'B'\], got '{first}'"):
        build_tiny_model(model_cfg(), bad, tmp_path / "cache", parser="verdict")
    with pytest.raises(DataError, match="training parquet not found"):
        build_tiny_model(model_cfg(), tmp_path / "absent.parquet", tmp_path, parser="score")
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_warmstart_stops_at_the_target_accuracy(train_parquet: Path, tmp_path: Path) -> None:
    cfg = model_cfg(warmstart_steps=100, warmstart_target_acc=0.01, warmstart_check_every=20)
    metrics = build_tiny_model(cfg, train_parquet, tmp_path, parser="score").warmstart_metrics
    checks = metrics["warmstart_acc_checks"]
    assert metrics["warmstart_steps"] < 100, checks
    assert metrics["warmstart_steps"] == checks[-1][0] and checks[-1][1] >= 0.01
    assert all(acc < 0.01 for _, acc in checks[:-1])
    unstopped = build_tiny_model(
        model_cfg(warmstart_steps=10), train_parquet, tmp_path, parser="score"
    ).warmstart_metrics
    assert unstopped["warmstart_steps"] == 10 and unstopped["warmstart_acc_checks"] == []
