"""Token log-probs on the cpu platform: veRL's fp32 formula, a block of rows at a time.

veRL's fallback (``verl.utils.torch_functional.logprobs_from_logits_v2``, used where
flash-attention's cross-entropy is missing) takes ``logsumexp`` one row at a time to bound
peak memory. A row is one token: at batch 32 x n 8 that is ~13,000 tiny ops forward and as
many backward, most of the actor's update on the tiny model. Rows are independent, so
taking them in blocks gives bit-identical results (``tests/unit/test_verl_cpu_logprobs.py``)
while the block size still bounds memory.
"""

from __future__ import annotations

from typing import Any

import torch

# At most this many logits in one logsumexp: 64 MB of fp32, however large the vocabulary.
BLOCK_ELEMENTS = 1 << 24


def blocked_logprobs(logits: torch.Tensor, labels: torch.Tensor, *, fallback: Any) -> torch.Tensor:
    """``log_softmax(logits)[labels]`` for fp32/fp64 logits; other dtypes go to ``fallback``."""
    if logits.dtype not in (torch.float32, torch.float64):
        return fallback(logits, labels)  # bf16: veRL's own log_softmax path
    picked = torch.gather(logits, dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
    per_row = max(1, BLOCK_ELEMENTS // max(1, logits[0].numel()))
    lse = torch.cat([torch.logsumexp(block, dim=-1) for block in logits.split(per_row)])
    return picked - lse


def install() -> None:
    """Make veRL's fallback log-prob function take rows in blocks (idempotent)."""
    import verl.utils.torch_functional as verl_f

    original = verl_f.logprobs_from_logits_v2
    if getattr(original, "_rmsweep_blocked", False):
        return

    def logprobs_from_logits_v2(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return blocked_logprobs(logits, labels, fallback=original)

    logprobs_from_logits_v2._rmsweep_blocked = True  # type: ignore[attr-defined]
    logprobs_from_logits_v2._rmsweep_original = original  # type: ignore[attr-defined]
    verl_f.logprobs_from_logits_v2 = logprobs_from_logits_v2
