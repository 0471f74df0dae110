"""veRL 0.9.1's RLHFDataset reads our parquet (tokenizer trained here, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmsweep.data import load_data_config, prepare_dataset, read_rows
from rmsweep.templates import load_template

ULTRAFEEDBACK = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ultrafeedback"
SPECIALS = ["<unk>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer(texts: list[str], vocab_size: int = 400):
    """A BPE tokenizer trained on ``texts`` with a minimal chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS)
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def prompt_lengths(tokenizer, rows: list[dict]) -> list[int]:
    out = []
    for row in rows:
        text = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=False
        )
        out.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def dataset(path: Path, tokenizer, tmp_path: Path, **config):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    cfg = {"filter_overlong_prompts_workers": 1, "cache_dir": str(tmp_path / "verl"), **config}
    return RLHFDataset(data_files=[str(path)], tokenizer=tokenizer, config=OmegaConf.create(cfg))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("data")
    return prepare_dataset(load_data_config("synthetic"), load_template("pointwise_plain"), cache)


def test_rlhf_dataset_loads_synthetic_pointwise(synthetic, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    from verl.utils.dataset.rl_dataset import collate_fn

    rows = read_rows(synthetic.train_path)
    texts = [m["content"] for r in rows for m in r["prompt"]] + ["<score>0</score>"]
    tokenizer = tiny_tokenizer(texts)
    assert len(tokenizer) <= 400
    lengths = prompt_lengths(tokenizer, rows)
    assert max(lengths) < 100  # "well under 128" tokens for the tiny model

    ds = dataset(synthetic.train_path, tokenizer, tmp_path, max_prompt_length=128)
    assert len(ds) == synthetic.n_train == 2000  # nothing filtered as too long
    for i in (0, 1, 1999):
        item = ds[i]
        assert item["raw_prompt"] == rows[i]["prompt"]
        assert item["reward_model"] == {
            "style": "rule",
            "ground_truth": rows[i]["reward_model"]["ground_truth"],
        }
        assert item["data_source"] == "synthetic" and item["index"] == i
        assert item["extra_info"]["synthetic"] is True
    batch = collate_fn([ds[i] for i in range(4)])
    assert list(batch["data_source"]) == ["synthetic"] * 4

    # veRL's length filter reads the prompts we wrote: a tighter limit drops the longest.
    limit = max(lengths) - 1
    shorter = dataset(synthetic.val_path, tokenizer, tmp_path, max_prompt_length=limit)
    val_lengths = prompt_lengths(tokenizer, read_rows(synthetic.val_path))
    assert len(shorter) == sum(n <= limit for n in val_lengths)


@pytest.mark.skipif(
    not ULTRAFEEDBACK.is_dir(), reason=f"UltraFeedback sample absent at {ULTRAFEEDBACK}"
)
def test_rlhf_dataset_loads_ultrafeedback_pairwise(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    cfg = {**load_data_config("ultrafeedback_pairwise"), "path": str(ULTRAFEEDBACK)}
    got = prepare_dataset(cfg, load_template("pairwise_rubrics"), tmp_path / "data")
    rows = read_rows(got.val_path)
    tokenizer = tiny_tokenizer([m["content"] for r in rows for m in r["prompt"]], vocab_size=2000)
    ds = dataset(got.val_path, tokenizer, tmp_path, filter_overlong_prompts=False)
    assert len(ds) == got.n_val == 200
    item = ds[5]
    assert [m["role"] for m in item["raw_prompt"]] == ["system", "user"]
    assert item["raw_prompt"] == rows[5]["prompt"]
    assert item["reward_model"]["ground_truth"] == rows[5]["extra_info"]["chosen_position"]
    assert item["data_source"] == "ultrafeedback_pairwise"
