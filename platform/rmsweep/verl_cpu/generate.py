"""One left-padded transformers ``generate`` over many prompts, with per-request sampling.

Sampling happens in a logits processor that draws each row's token from that row's own
``torch.Generator`` and hands ``generate`` a one-hot score, which greedy decoding then picks.
A request's tokens therefore depend on its own seed, not on which other requests shared its
batch, and a greedy request gives the same tokens padded in a batch as alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from transformers import LogitsProcessor, LogitsProcessorList


@dataclass(frozen=True)
class SamplingSpec:
    """veRL's per-request sampling parameters, normalised.

    ``temperature <= 0`` means greedy. ``top_k <= 0`` and ``top_p >= 1`` switch those
    filters off. Requests whose specs agree on everything but ``max_new_tokens`` can share
    one ``generate`` call (see :meth:`batch_key`).
    """

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    repetition_penalty: float = 1.0
    stop_token_ids: tuple[int, ...] = ()
    logprobs: bool = False
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def batch_key(self) -> tuple[Any, ...]:
        return (
            self.temperature,
            self.top_p,
            self.top_k,
            self.repetition_penalty,
            self.stop_token_ids,
            self.logprobs,
            self.ignore_eos,
        )


@dataclass(frozen=True)
class Generation:
    """One request's result: new tokens (stop token included), their log-probs if asked."""

    token_ids: list[int]
    log_probs: list[float] | None


def request_seed(base_seed: int, *parts: object) -> int:
    """A 63-bit seed derived from a base seed and anything that identifies a request."""
    digest = hashlib.blake2b(repr((base_seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def _filter_top_k_top_p(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask logits (one row) outside the top-k set and the top-p nucleus with -inf."""
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


class SeededSampler(LogitsProcessor):
    """Draw each row's next token with its own generator; return one-hot scores."""

    def __init__(self, spec: SamplingSpec, generators: Sequence[torch.Generator]) -> None:
        self.spec = spec
        self.generators = list(generators)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float() / self.spec.temperature
        chosen = []
        for row, generator in enumerate(self.generators):
            row_logits = _filter_top_k_top_p(logits[row], self.spec.top_k, self.spec.top_p)
            probs = torch.softmax(row_logits, dim=-1)
            chosen.append(torch.multinomial(probs, 1, generator=generator))
        picked = torch.stack(chosen)  # (batch, 1)
        one_hot = torch.full_like(scores, float("-inf"))
        # LogitsProcessor declares FloatTensor; scatter on a float tensor returns one.
        return cast(torch.FloatTensor, one_hot.scatter(1, picked, 0.0))


def _cut(tokens: list[int], stop_ids: frozenset[int], limit: int) -> list[int]:
    tokens = tokens[:limit]
    for i, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[: i + 1]
    return tokens


@torch.no_grad()
def generate_batch(
    model: Any,
    prompts: Sequence[Sequence[int]],
    spec: SamplingSpec,
    *,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    max_new_tokens: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[Generation]:
    """Generate for several prompts with one left-padded ``model.generate`` call.

    Args:
        model: A transformers causal LM (its device is used for the inputs).
        prompts: Token ids, one list per request.
        spec: Shared sampling settings; ``spec.max_new_tokens`` bounds the call.
        eos_token_ids: Tokens that end a response (unless ``spec.ignore_eos``).
        pad_token_id: Id used for left padding (masked out, so its value does not matter).
        max_new_tokens: Per-request limits (each <= ``spec.max_new_tokens``); default the spec's.
        seeds: One seed per request when sampling; ignored when greedy.

    Returns:
        One :class:`Generation` per prompt, in order, cut after its first stop token.
    """
    if not prompts:
        return []
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            input_ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1

    stop_ids = frozenset(spec.stop_token_ids) | (
        frozenset() if spec.ignore_eos else frozenset(eos_token_ids)
    )
    processors = LogitsProcessorList()
    if not spec.greedy:
        if seeds is None or len(seeds) != len(prompts):
            raise ValueError(f"sampling needs one seed per prompt, got {seeds=}")
        generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        processors.append(SeededSampler(spec, generators))

    out = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        do_sample=False,
        max_new_tokens=spec.max_new_tokens,
        min_new_tokens=0,
        repetition_penalty=spec.repetition_penalty,
        eos_token_id=sorted(stop_ids) or None,
        pad_token_id=pad_token_id,
        logits_processor=processors,
        return_dict_in_generate=True,
        output_logits=spec.logprobs,
    )
    new_tokens = out.sequences[:, width:].cpu()
    token_logprobs = None
    if spec.logprobs and out.logits:
        logits = torch.stack(out.logits, dim=1).float()  # (batch, steps, vocab), raw
        if not spec.greedy:
            logits = logits / spec.temperature
        steps = new_tokens.shape[1]
        token_logprobs = (
            torch.log_softmax(logits[:, :steps], dim=-1)
            .gather(-1, new_tokens.to(logits.device).unsqueeze(-1))
            .squeeze(-1)
            .cpu()
        )

    limits = (
        list(max_new_tokens) if max_new_tokens is not None else [spec.max_new_tokens] * len(prompts)
    )
    results = []
    for row in range(len(prompts)):
        tokens = _cut(new_tokens[row].tolist(), stop_ids, limits[row])
        lps = token_logprobs[row, : len(tokens)].tolist() if token_logprobs is not None else None
        results.append(Generation(token_ids=tokens, log_probs=lps))
    return results
