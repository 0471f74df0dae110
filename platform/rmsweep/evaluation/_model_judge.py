"""A trained model as a judge: render each item with the run's template, generate, parse.

Greedy and batched: transformers on the CPU (the same left-padded ``generate_batch`` as the
``hf`` rollout, so a judgment does not depend on its batch-mates), vLLM's offline engine on a
GPU when the run used the vLLM rollout. The reward parsers read the answers, exactly as in
training: a pointwise template yields ``<score>N</score>``, a pairwise one ``[[A]]``/``[[B]]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from rmsweep.evaluation._settings import EvalSettings, ModelSpec


@dataclass
class GenerationStats:
    """How many prompts were generated for and how many were cut to fit the model."""

    prompts: int = 0
    truncated: int = 0


class ModelJudge:
    """Scores (pointwise) or verdicts (pairwise) from a Hugging Face causal LM."""

    def __init__(self, model: ModelSpec, settings: EvalSettings) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        assert model.path is not None
        self.settings = settings
        self.stats = GenerationStats()
        self.tokenizer = AutoTokenizer.from_pretrained(model.path)
        self.device = torch.device(
            "cuda" if settings.device == "gpu" and torch.cuda.is_available() else "cpu"
        )
        self._vllm = settings.device == "gpu" and settings.rollout == "vllm" and _has_vllm()
        if self._vllm:
            from vllm import LLM

            self.model: Any = LLM(model=str(model.path), seed=settings.seed)
        else:
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(model.path, dtype=dtype)
            self.model.to(self.device).eval()

    # --- the two judging interfaces (rmsweep.evaluation._judging) ---------------------------
    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float | None]:
        from reward_fns.parse import parse_score

        records = [{"prompt": p, "response": r} for p, r in pairs]
        s = self.settings
        return [
            None
            if (v := parse_score(t, scale_min=s.scale_min, scale_max=s.scale_max)) is None
            else float(v)
            for t in self.generate(records)
        ]

    def verdicts(self, triples: Sequence[tuple[str, str, str]]) -> list[str | None]:
        from reward_fns.parse import parse_verdict

        records = [{"prompt": p, "response_a": a, "response_b": b} for p, a, b in triples]
        return [parse_verdict(t) for t in self.generate(records)]

    # --- generation --------------------------------------------------------------------------
    def generate(self, records: Sequence[dict[str, str]]) -> list[str]:
        """Greedy completions of the rendered records, in order."""
        prompts = [self._prompt_ids(r) for r in records]
        self.stats.prompts += len(prompts)
        if self._vllm:
            return self._generate_vllm(prompts)
        from rmsweep.verl_cpu.generate import SamplingSpec, generate_batch

        spec = SamplingSpec(max_new_tokens=self.settings.max_new_tokens, temperature=0.0)
        texts: list[str] = [""] * len(prompts)
        # Similar lengths share a batch: less padding, and the order does not change results.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        size = self.settings.batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            outs = generate_batch(
                self.model,
                [prompts[i] for i in rows],
                spec,
                eos_token_ids=self._eos_ids(),
                pad_token_id=self._pad_id(),
            )
            for i, out in zip(rows, outs, strict=True):
                # One sequence of ids decodes to one string.
                texts[i] = cast(str, self.tokenizer.decode(out.token_ids, skip_special_tokens=True))
        return texts

    def _prompt_ids(self, record: dict[str, str]) -> list[int]:
        from rmsweep.templates import render

        s = self.settings
        messages = render(
            s.template,
            {**record, "scale_min": str(s.scale_min), "scale_max": str(s.scale_max)},
            native_thinking=s.native_thinking,
        )
        kwargs: dict[str, Any] = (
            {"enable_thinking": bool(s.template["thinking"])} if s.native_thinking else {}
        )
        # What comes back depends on the transformers version (ids, or a BatchEncoding).
        encoded: Any = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, **kwargs
        )
        if hasattr(encoded, "get"):  # transformers 5 returns a BatchEncoding
            encoded = encoded["input_ids"]
        ids: list[int] = list(encoded)
        room = self._max_positions() - s.max_new_tokens
        if room > 0 and len(ids) > room:
            # Keep the end: the response(s) and the generation prompt the answer follows.
            self.stats.truncated += 1
            ids = ids[-room:]
        return ids

    def _max_positions(self) -> int:
        config = getattr(self.model, "config", None)
        return int(getattr(config, "max_position_embeddings", 0) or 0)

    def _eos_ids(self) -> list[int]:
        ids = []
        gen = getattr(self.model, "generation_config", None)
        for source in (getattr(gen, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.append(source)
            elif isinstance(source, list | tuple):
                ids.extend(int(x) for x in source)
        return sorted(set(ids))

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else (self._eos_ids() or [0])[0])

    def _generate_vllm(self, prompts: list[list[int]]) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=self.settings.max_new_tokens)
        outputs = self.model.generate(
            [{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False
        )
        return [o.outputs[0].text for o in outputs]


def _has_vllm() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def judge_fns(
    model: ModelSpec, settings: EvalSettings
) -> tuple[Callable[..., list[Any]], GenerationStats | None]:
    """The judging function for ``settings.task`` (and generation stats for a model)."""
    from rmsweep.evaluation._baselines import BASELINES

    if model.baseline is not None:
        baseline = BASELINES[model.baseline]
        return (lambda pairs: baseline(pairs)), None
    judge = ModelJudge(model, settings)
    return (judge.scores if settings.task == "pointwise" else judge.verdicts), judge.stats
