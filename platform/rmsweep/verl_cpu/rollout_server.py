"""The ``hf`` rollout server: a Ray actor that batches veRL's generate requests.

veRL's agent loop sends one ``generate`` call per sample, many at a time. The server
collects the calls that arrive within a few milliseconds and runs them as one left-padded
transformers ``generate`` per sampling setting (:mod:`rmsweep.verl_cpu.generate`), in a
worker thread so that new requests keep queueing meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rmsweep.verl_cpu.generate import Generation, SamplingSpec, generate_batch, request_seed

# How long the server waits for more requests before it starts a batch.
BATCH_WINDOW_S = 0.01
# Sampling-params key that names a sample (set by the hf agent loop; see _seed_for).
SAMPLE_ID_KEY = "rmsweep_sample_id"

RunBatch = Callable[[list[list[int]], SamplingSpec, list[int], list[int] | None], list[Generation]]


class Aborted(Exception):
    """A queued request was dropped by ``abort_all_requests`` before it ran."""


@dataclass
class _Request:
    prompt_ids: list[int]
    spec: SamplingSpec
    seed: int | None
    request_id: str
    future: asyncio.Future[Generation] = field(repr=False)


class RequestBatcher:
    """Queue concurrent requests and run them in batches, one batch at a time.

    Args:
        run_batch: ``(prompts, spec, max_new_tokens, seeds) -> generations``; runs in a thread.
        window_s: How long to collect requests before a batch starts.
        max_batch: Most requests in one ``generate`` call.
    """

    def __init__(self, run_batch: RunBatch, window_s: float = BATCH_WINDOW_S, max_batch: int = 256):
        self._run_batch = run_batch
        self.window_s = window_s
        self.max_batch = max(1, max_batch)
        self._queue: list[_Request] = []
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        # Held while a batch runs; weight loads take it too, so they never overlap generation.
        self.model_lock = asyncio.Lock()
        self.batch_sizes: list[int] = []
        self.batch_seconds: list[float] = []

    async def submit(
        self, prompt_ids: Sequence[int], spec: SamplingSpec, seed: int | None, request_id: str = ""
    ) -> Generation:
        """Queue one request and wait for its result (raises :class:`Aborted` if dropped)."""
        future: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(list(prompt_ids), spec, seed, request_id, future))
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain_queue())
        return await future

    def abort_queued(self) -> list[str]:
        """Fail every request that has not started yet; return their request ids."""
        queued, self._queue = self._queue, []
        for request in queued:
            if not request.future.done():
                request.future.set_exception(Aborted())
        return [r.request_id for r in queued]

    async def wait_idle(self) -> None:
        """Return once nothing is queued or running."""
        await self._idle.wait()

    async def _drain_queue(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(self.window_s)
                taken, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                groups: dict[tuple[Any, ...], list[_Request]] = {}
                for request in taken:
                    groups.setdefault(request.spec.batch_key(), []).append(request)
                async with self.model_lock:
                    for requests in groups.values():
                        await self._run_group(requests)
        finally:
            if not self._queue:
                self._idle.set()

    async def _run_group(self, requests: list[_Request]) -> None:
        limits = [r.spec.max_new_tokens for r in requests]
        spec = max((r.spec for r in requests), key=lambda s: s.max_new_tokens)
        seeds = None if spec.greedy else [int(r.seed or 0) for r in requests]
        start = time.perf_counter()
        try:
            results = await asyncio.to_thread(
                self._run_batch, [r.prompt_ids for r in requests], spec, limits, seeds
            )
        except Exception as err:  # hand the failure to every waiting caller
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(err)
            return
        finally:
            self.batch_sizes.append(len(requests))
            self.batch_seconds.append(time.perf_counter() - start)
        for request, result in zip(requests, results, strict=True):
            if not request.future.done():
                request.future.set_result(result)


def parse_sampling_params(
    params: dict[str, Any], *, default_max_tokens: int, ignore_eos: bool = False
) -> SamplingSpec:
    """Turn veRL's sampling-params dict into a :class:`SamplingSpec`.

    veRL sends ``temperature``, ``top_p``, ``top_k``, ``repetition_penalty``, ``logprobs``
    (bool), and sometimes ``max_tokens``/``max_new_tokens`` and ``stop_token_ids``.
    """
    max_tokens = params.get("max_tokens", params.get("max_new_tokens"))
    if max_tokens is None:
        max_tokens = default_max_tokens
    temperature = params.get("temperature")
    top_k = params.get("top_k")
    top_p = params.get("top_p")
    return SamplingSpec(
        max_new_tokens=max(1, int(max_tokens)),
        temperature=1.0 if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        top_k=-1 if top_k is None else int(top_k),
        repetition_penalty=float(params.get("repetition_penalty") or 1.0),
        stop_token_ids=tuple(sorted(int(t) for t in params.get("stop_token_ids") or ())),
        logprobs=bool(params.get("logprobs")),
        ignore_eos=bool(params.get("ignore_eos", ignore_eos)),
    )


def _eos_ids(*sources: Any) -> list[int]:
    ids: set[int] = set()
    for source in sources:
        if source is None:
            continue
        if isinstance(source, int):
            ids.add(source)
        else:
            ids.update(int(i) for i in source)
    return sorted(ids)


class HFRolloutServer:
    """veRL rollout server that generates with transformers (run as a Ray actor).

    Args:
        config: veRL's rollout config (``RolloutConfig`` or its DictConfig).
        model_config: veRL's model config (``HFModelConfig`` or its DictConfig).
        replica_rank: Rank of the replica this server belongs to.
        batch_window_s: How long to collect requests before a batch starts.
    """

    def __init__(
        self,
        config: Any,
        model_config: Any,
        replica_rank: int = 0,
        batch_window_s: float = BATCH_WINDOW_S,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, GenerationConfig
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig, RolloutConfig

        self.config = omega_conf_to_dataclass(config, dataclass_type=RolloutConfig)
        self.model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        # bf16 on a CPU is slow and drifts from the fp32 actor; keep fp32 there.
        dtype = getattr(torch, self.config.dtype) if self.device.type == "cuda" else torch.float32
        attn = (self.model_config.override_config or {}).get("attn_implementation", "sdpa")
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_config.local_path,
            dtype=dtype,
            attn_implementation=attn,
            trust_remote_code=self.model_config.trust_remote_code,
        ).to(self.device)  # type: ignore[arg-type]  # transformers types `to` as an unbound @wraps
        self.model.eval()

        tokenizer = self.model_config.tokenizer
        gen_cfg = self.model_config.generation_config
        self.eos_token_ids = _eos_ids(
            getattr(gen_cfg, "eos_token_id", None), getattr(tokenizer, "eos_token_id", None)
        )
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_token_id = int(pad if pad is not None else (self.eos_token_ids or [0])[0])
        # A neutral generation config: nothing from the checkpoint's may change sampling.
        self.model.generation_config = GenerationConfig(
            eos_token_id=self.eos_token_ids or None, pad_token_id=self.pad_token_id
        )

        self.max_model_len = self.config.max_model_len or (
            self.config.prompt_length + self.config.response_length
        )
        self.global_steps = 0
        self._seen: dict[tuple[Any, ...], int] = {}
        self._batcher = RequestBatcher(
            self._run_batch, window_s=batch_window_s, max_batch=self.config.max_num_seqs
        )
        self._gate_open = asyncio.Event()
        self._gate_open.set()
        self._rejecting = False
        self._reported = 0

    # ------------------------------------------------------------------ generation

    def _run_batch(
        self,
        prompts: list[list[int]],
        spec: SamplingSpec,
        limits: list[int],
        seeds: list[int] | None,
    ) -> list[Generation]:
        return generate_batch(
            self.model,
            prompts,
            spec,
            eos_token_ids=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            max_new_tokens=limits,
            seeds=seeds,
        )

    def _seed_for(self, prompt_ids: list[int], spec: SamplingSpec, params: dict[str, Any]) -> int:
        """Seed from (rollout seed, weight version, prompt, sample id, repeat number).

        The sample id (dataset index and sample number, sent by
        :class:`~rmsweep.verl_cpu.agent_loop.SeededSingleTurnAgentLoop`) makes a seeded run
        draw the same samples whatever order its requests arrive in. Requests that share
        prompt and sample id (or send none) are told apart by arrival order.
        """
        seed = params.get("seed")
        base = int(self.config.seed if seed is None else seed)
        digest = hashlib.blake2b(repr(prompt_ids).encode(), digest_size=16).hexdigest()
        sample_id = str(params.get(SAMPLE_ID_KEY, ""))
        key = (self.global_steps, digest, sample_id, spec.batch_key())
        repeat = self._seen.get(key, 0)
        self._seen[key] = repeat + 1
        return request_seed(base, self.global_steps, digest, sample_id, repeat)

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        audio_data: Any = None,
        mm_processor_kwargs: Any = None,
        priority: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Token-in, token-out generation in veRL's ``TokenOutput`` form."""
        from verl.workers.rollout.replica import TokenOutput

        if image_data is not None or video_data is not None or audio_data is not None:
            raise NotImplementedError("the hf rollout backend is text-only")
        prompt_ids = [int(t) for t in prompt_ids]
        room = self.max_model_len - len(prompt_ids)
        if room < 1:
            raise ValueError(
                f"prompt of {len(prompt_ids)} tokens leaves no room within max_model_len "
                f"{self.max_model_len}"
            )
        default = min(
            self.config.response_length,
            self.config.prompt_length + self.config.response_length - len(prompt_ids),
        )
        spec = parse_sampling_params(
            dict(sampling_params), default_max_tokens=default, ignore_eos=self.config.ignore_eos
        )
        if spec.max_new_tokens > room:
            spec = dataclasses.replace(spec, max_new_tokens=room)

        aborted = TokenOutput(
            token_ids=[], stop_reason="aborted", extra_fields={"global_steps": self.global_steps}
        )
        if not self._gate_open.is_set():
            if self._rejecting:
                return aborted
            await self._gate_open.wait()

        seed = None if spec.greedy else self._seed_for(prompt_ids, spec, sampling_params)
        try:
            result = await self._batcher.submit(prompt_ids, spec, seed, str(request_id))
        except Aborted:
            return aborted
        return TokenOutput(
            token_ids=result.token_ids,
            log_probs=result.log_probs,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    # ------------------------------------------------------------------ weights

    async def load_weights(self, named_tensors: Any, global_steps: int | None = None) -> int:
        """Copy veRL's synced weights into the model; return how many tensors were loaded.

        Args:
            named_tensors: ``{name: tensor}`` or ``[(name, tensor), ...]`` in HF naming.
            global_steps: Trainer step the weights belong to (stamped on later outputs).
        """
        state = dict(named_tensors)
        async with self._batcher.model_lock:
            result = self.model.load_state_dict(state, strict=False)
            tied = bool(getattr(self.model.config, "tie_word_embeddings", False))
            # A tied output head shares the embedding; the trainer may not send it.
            missing = [k for k in result.missing_keys if not (tied and k.startswith("lm_head."))]
            if result.unexpected_keys or missing:
                raise ValueError(
                    "weight sync does not match the rollout model: unexpected "
                    f"{result.unexpected_keys[:5]}, missing {missing[:5]}"
                )
            if tied:
                self.model.tie_weights()
        if global_steps is not None:
            await self.set_global_steps(global_steps)
        return len(state)

    async def set_global_steps(self, global_steps: int) -> None:
        """Record the trainer step of the current weights."""
        if global_steps != self.global_steps:
            self._seen.clear()
        self.global_steps = int(global_steps)

    # ------------------------------------------------------------------ control (no-ops mostly)

    async def wake_up(self, tags: list[str] | None = None) -> None:
        """Weights and cache stay resident on this backend: nothing to restore."""

    async def sleep(self) -> None:
        """Nothing to free (the model stays put); print how requests were batched since last time.

        veRL puts the replicas to sleep after every rollout phase, so this is one line a step.
        """
        sizes = self._batcher.batch_sizes[self._reported :]
        seconds = sum(self._batcher.batch_seconds[self._reported :])
        self._reported = len(self._batcher.batch_sizes)
        if sizes:
            print(
                f"hf rollout server {self.replica_rank}: {sum(sizes)} requests in {len(sizes)} "
                f"batch(es), largest {max(sizes)}, {seconds:.2f} s generating, "
                f"weights of step {self.global_steps}",
                flush=True,
            )

    async def wait_for_requests_to_drain(self) -> None:
        await self._batcher.wait_idle()

    async def abort_all_requests(
        self, reset_prefix_cache: bool = True, reject_request: bool = False
    ) -> dict[str, Any]:
        """Close the gate and drop queued requests (a running batch finishes)."""
        self._gate_open.clear()
        self._rejecting = reject_request
        ids = self._batcher.abort_queued()
        return {"aborted_count": len(ids), "request_ids": ids}

    async def resume_generation(self) -> None:
        self._rejecting = False
        self._gate_open.set()

    async def clear_kv_cache(self) -> None:
        """No cache outlives a batch here."""

    async def release_kv_cache(self) -> None:
        """No cache outlives a batch here."""

    async def resume_kv_cache(self) -> None:
        """No cache outlives a batch here."""

    async def start_profile(self, **kwargs: Any) -> None:
        """Profiling is not supported by this backend."""

    async def stop_profile(self) -> None:
        """Profiling is not supported by this backend."""

    async def batch_sizes(self) -> list[int]:
        """Sizes of the batches run so far (for tests and diagnostics)."""
        return list(self._batcher.batch_sizes)
