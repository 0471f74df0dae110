"""The cpu platform's log-prob function gives veRL's results bit for bit, in blocks of rows."""

from __future__ import annotations

import pytest
import torch

from rmsweep.verl_cpu import logprobs


def _verl_row_by_row(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # veRL 0.9.1's fp32 formula (verl.utils.torch_functional.logprobs_from_logits_v2)
    picked = torch.gather(logits, dim=-1, index=labels.unsqueeze(-1)).squeeze(-1)
    return picked - torch.stack([torch.logsumexp(row, dim=-1) for row in logits])


def _never(*_args: object) -> torch.Tensor:
    raise AssertionError("fp32 logits must not reach the fallback")


@pytest.mark.parametrize("shape", [(1, 7), (513, 330), (4, 9, 50)])
@pytest.mark.parametrize("block", [1 << 24, 1000])  # one block; many blocks (and a ragged one)
def test_blocks_match_verls_rows_bit_for_bit(shape, block, monkeypatch) -> None:
    monkeypatch.setattr(logprobs, "BLOCK_ELEMENTS", block)
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(*shape, generator=gen) * 4
    labels = torch.randint(0, shape[-1], shape[:-1], generator=gen)
    ours_in = base.clone().requires_grad_(True)
    theirs_in = base.clone().requires_grad_(True)
    ours = logprobs.blocked_logprobs(ours_in, labels, fallback=_never)
    theirs = _verl_row_by_row(theirs_in, labels)
    assert torch.equal(ours, theirs)
    weights = torch.rand(ours.shape, generator=gen)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    assert torch.equal(ours_in.grad, theirs_in.grad)


def test_other_dtypes_go_to_verls_own_path() -> None:
    seen = []
    logits = torch.randn(3, 5).to(torch.bfloat16)
    labels = torch.tensor([0, 1, 2])
    logprobs.blocked_logprobs(logits, labels, fallback=lambda lg, lb: seen.append(lg.dtype) or lb)
    assert seen == [torch.bfloat16]


def test_install_routes_verls_log_probs_through_blocks_once(monkeypatch) -> None:
    verl_f = pytest.importorskip("verl.utils.torch_functional")
    current = verl_f.logprobs_from_logits_v2
    original = getattr(current, "_rmsweep_original", current)  # another test may have installed
    monkeypatch.setattr(verl_f, "logprobs_from_logits_v2", original)
    calls = []
    real_blocked = logprobs.blocked_logprobs

    def counted(*args, **kwargs):
        calls.append(1)
        return real_blocked(*args, **kwargs)

    monkeypatch.setattr(logprobs, "blocked_logprobs", counted)
    logprobs.install()
    installed = verl_f.logprobs_from_logits_v2
    logprobs.install()
    assert verl_f.logprobs_from_logits_v2 is installed is not original
    logits, labels = torch.randn(6, 11), torch.randint(0, 11, (6,))
    assert torch.equal(verl_f.logprobs_from_logits(logits, labels), original(logits, labels))
    assert calls == [1]
