"""veRL 0.9.1's own reward managers load reward_fns by path and score a real DataProto on CPU.

Two paths, both veRL's code: the legacy ``NaiveRewardManager`` (verl.workers.reward_manager)
scoring a whole batch, and the reward loop that ``main_ppo`` runs in 0.9.1
(``RewardLoopWorker`` -> ``load_reward_manager`` -> the registered ``naive`` manager), fed
from veRL's own composed ``ppo_trainer`` config. The tokenizer is a byte-level BPE trained
here on a few strings; nothing is downloaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import reward_fns

POINTWISE = Path(reward_fns.__file__).parent / "pointwise.py"
PAIRWISE = Path(reward_fns.__file__).parent / "pairwise.py"
KWARGS = {"shape": "exponential", "k": 4.0}
SOURCE = "synthetic"

# (response, ground truth, expected score under exponential k=4, expected acc)
POINTWISE_CASES = [
    ("<think>Clear and correct.</think>\n<score>3</score>", 3, 1.0, 1.0),
    ("<think>Some errors.</think>\n<score>1</score>", 3, math.exp(-2.0), 0.0),
    ("<score>99</score>", 0, 0.0, 0.0),  # out of range: unparseable, not clamped
    ("<think>The response is long and", 2, 0.0, 0.0),  # truncated
    ("<score>4</score>", "4", 1.0, 1.0),
    ("<score>2</score> or <score>3</score>", 2, 0.0, 0.0),  # two answers
]
PAIRWISE_CASES = [
    ("<think>A is right.</think><answer>[[A]]</answer>", "A", 1.0, 1.0),
    ("<think>B is right.</think><answer>[[B]]</answer>", "A", -1.0, 0.0),
    ("<think>Both.</think><answer>[[A]] [[B]]</answer>", "B", -1.0, 0.0),
    ("<answer>[[B]]</answer>", "B", 1.0, 1.0),
]


@pytest.fixture(scope="module", autouse=True)
def _event_loop_cleanup():
    """RewardLoopWorker sets an event loop on this thread; close it when the module is done."""
    yield
    import asyncio

    loop = asyncio.get_event_loop_policy().get_event_loop()
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [text for text, *_ in POINTWISE_CASES + PAIRWISE_CASES] + ["Rate the response."]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        clean_up_tokenization_spaces=False,
    )
    path = tmp_path_factory.mktemp("tokenizer")
    fast.save_pretrained(path)
    return path


def _batch(tokenizer, cases: list[tuple]):  # -> verl.DataProto
    """Left-padded prompts, right-padded responses ending in EOS, as veRL's rollout leaves them."""
    import torch
    from verl import DataProto

    prompts = [tokenizer.encode("Rate the response.", add_special_tokens=False) for _ in cases]
    responses = [
        tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]
        for text, *_ in cases
    ]
    width_p, width_r = max(map(len, prompts)), max(map(len, responses))
    pad = tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (width_p - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (width_r - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (width_p - len(p)) + [1] * (len(p) + len(r)) + [0] * (width_r - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )
    return DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array([SOURCE] * len(cases), dtype=object),
            "reward_model": np.array([{"ground_truth": gt} for _, gt, *_ in cases], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(len(cases))], dtype=object),
        },
    )


def _val_core(reward_extra_info: dict[str, list]) -> dict[str, float]:
    """veRL's validation metrics for one pass (one sample per prompt)."""
    from verl.trainer.ppo.metric_utils import process_validation_metrics

    n = len(reward_extra_info["acc"])
    metrics = process_validation_metrics(
        [SOURCE] * n, [f"uid{i}" for i in range(n)], reward_extra_info
    )
    return {var: float(stats["mean@1"]) for var, stats in metrics[SOURCE].items()}


def test_legacy_naive_manager_scores_a_batch(tokenizer_dir: Path) -> None:
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager import get_reward_manager_cls

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": str(POINTWISE),
                    "name": "compute_score",
                    "reward_kwargs": KWARGS,
                }
            }
        }
    )
    manager = get_reward_manager_cls("naive")(
        tokenizer=tokenizer, num_examine=0, compute_score=get_custom_reward_fn(config)
    )
    batch = _batch(tokenizer, POINTWISE_CASES)
    out = manager(batch, return_dict=True)

    rewards = out["reward_tensor"].sum(dim=1).tolist()
    assert rewards == pytest.approx([case[2] for case in POINTWISE_CASES])
    info = out["reward_extra_info"]
    assert info["acc"] == [case[3] for case in POINTWISE_CASES]
    assert info["parsed"] == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    core = _val_core(info)
    assert core["acc"] == pytest.approx(2 / 6)
    assert core["pred_none"] == pytest.approx(3 / 6)
    assert core["pred_3"] == pytest.approx(1 / 6)


def _reward_loop(tokenizer_dir: Path, path: Path, kwargs: dict, cases: list[tuple]) -> list[dict]:
    """Score ``cases`` through veRL's RewardLoopWorker, configured from its own ppo_trainer.yaml."""
    import verl
    from hydra import compose, initialize_config_dir
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    overrides = [
        f"reward.custom_reward_function.path={path}",
        "reward.custom_reward_function.name=compute_score",
        f"actor_rollout_ref.model.path={tokenizer_dir}",
        *(f"+reward.custom_reward_function.reward_kwargs.{k}={v}" for k, v in kwargs.items()),
    ]
    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        config = compose("ppo_trainer", overrides=overrides)
    worker = RewardLoopWorker(config)
    batch = _batch(worker.input_tokenizer, cases)
    return worker.loop.run_until_complete(worker.compute_score_batch(batch))


def test_reward_loop_naive_manager_reports_acc(tokenizer_dir: Path) -> None:
    outputs = _reward_loop(tokenizer_dir, POINTWISE, KWARGS, POINTWISE_CASES)

    assert [o["reward_score"] for o in outputs] == pytest.approx([c[2] for c in POINTWISE_CASES])
    infos = [o["reward_extra_info"] for o in outputs]
    assert all(list(info) == list(infos[0]) for info in infos)  # veRL stacks them by key
    core = _val_core({key: [info[key] for info in infos] for key in infos[0]})
    assert core["acc"] == pytest.approx(2 / 6)
    assert core["abs_error"] == pytest.approx((0 + 2 + 4 + 4 + 0 + 4) / 6)


def test_reward_loop_scores_pairwise_verdicts(tokenizer_dir: Path) -> None:
    outputs = _reward_loop(tokenizer_dir, PAIRWISE, {"mode": "signed"}, PAIRWISE_CASES)

    assert [o["reward_score"] for o in outputs] == [c[2] for c in PAIRWISE_CASES]
    assert [o["reward_extra_info"]["acc"] for o in outputs] == [c[3] for c in PAIRWISE_CASES]
