"""veRL's agent-loop manager for one CPU rollout replica: no agent-loop process, no per-sample
Ray calls it can skip.

veRL's agent-loop worker makes, for every sample, a Ray call to its load balancer (which
server?), a release call after, and a call to a reward-loop worker (score the response).
On a CPU host of two cores these round trips cost more than generating the tokens
(``benchmarks/trial_phases.py``). With one rollout replica the answer to "which server?"
never changes, and a rule-based reward is a plain function: this manager's workers ask the
balancer once and score in their own process, with veRL's own ``RewardLoopWorker`` code, so
the scores are the ones the reward-loop actor would give. They also build each sample's agent
loop by calling its class, where veRL goes through Hydra's ``instantiate`` (~3 ms a sample).

Its one worker is not a Ray actor either: it runs in the manager's own process (veRL's driver,
which has imported everything the worker needs), on an event loop of its own thread. A worker
actor is one more process importing torch and veRL, and veRL starts it only after the trainer
and the rollout server are up, so the step-0 validation waited ≈9 s for it on two cores.

Selected for ``device=cpu`` by :func:`rmsweep.verl_cpu.cpu_overrides`
(``actor_rollout_ref.rollout.agent.agent_loop_manager_class``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
from hydra.utils import get_class

from rmsweep.verl_cpu import register

# Ray imports this module by name in a fresh worker: the package came first, before veRL,
# so veRL's own import of it registered nothing. The trainer modules below need the platform.
register()

from verl.experimental.agent_loop.agent_loop import (  # noqa: E402
    DictConfigWrap,
    ToolListWrap,
    _agent_loop_registry,
)
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker  # noqa: E402
from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopManagerTQ, AgentLoopWorkerTQ  # noqa: E402
from verl.utils.rollout_trace import rollout_trace_attr  # noqa: E402
from verl.workers.rollout.llm_server import LLMServerClient  # noqa: E402

_T = TypeVar("_T")


class OneServerClient(LLMServerClient):
    """An ``LLMServerClient`` that asks the load balancer once and keeps its answer.

    Only for a pool of one server: the balancer would answer the same for every request.
    """

    _server: asyncio.Future[tuple[str, Any]] | None = None

    @classmethod
    def like(cls, client: LLMServerClient) -> OneServerClient:
        return cls(config=client.config, load_balancer_handle=client._load_balancer)

    async def _acquire_server(self, request_id: str, **extra: Any) -> tuple[str, Any]:
        if self._server is None:  # the first of many concurrent requests asks for all
            self._server = asyncio.ensure_future(self._ask_once(request_id, **extra))
        return await asyncio.shield(self._server)

    async def _ask_once(self, request_id: str, **extra: Any) -> tuple[str, Any]:
        server_id, handle = await super()._acquire_server(request_id, **extra)
        super()._release_server(server_id, request_id=request_id)  # keep its count at 0
        return server_id, handle

    def _release_server(self, server_id: str, request_id: str | None = None) -> None:
        """Nothing was counted for this request."""


class _ScoreInProcess:
    def __init__(self, config: Any) -> None:
        self._config = config
        self._worker: RewardLoopWorker | None = None

    async def _score(self, data: Any) -> dict[str, Any]:
        if self._worker is None:  # built inside the running loop: its executor calls use it
            self._worker = RewardLoopWorker(self._config, None)  # type: ignore[arg-type]  # no reward model: no router address
        return await self._worker.compute_score(_own_extra_info(data))

    def remote(self, data: Any) -> Any:
        return self._score(data)  # a coroutine: awaited where an ObjectRef would be


def _own_extra_info(data: Any) -> Any:
    """``data`` with its own copy of each sample's ``extra_info`` dict.

    A Ray call hands the reward manager a copy of the batch; veRL's reward managers add keys
    to ``extra_info`` (``num_turns``, ``rollout_reward_scores``), which here would land in the
    agent loop's own dicts. Those dicts are all it changes, so they are all that is copied
    (a deep copy of the batch took a tenth of the worker's time).
    """
    infos = data.non_tensor_batch.get("extra_info")
    if infos is not None:
        copied = np.empty(len(infos), dtype=object)
        copied[:] = [dict(info) if isinstance(info, dict) else info for info in infos]
        data.non_tensor_batch["extra_info"] = copied
    return data


class InProcessReward:
    """Looks like a reward-loop actor handle (``compute_score.remote``), scores in this process."""

    def __init__(self, config: Any) -> None:
        self.compute_score = _ScoreInProcess(config)


class OneReplicaAgentLoopWorker(AgentLoopWorkerTQ.__ray_actor_class__):  # type: ignore[name-defined,misc]
    """veRL's TransferQueue agent-loop worker, routing once and scoring in process."""

    def __init__(
        self,
        config: Any,
        llm_client: LLMServerClient,
        teacher_client: Any = None,
        reward_loop_worker_handles: list[Any] | None = None,
    ) -> None:
        if reward_loop_worker_handles is not None:  # None: a reward model scores, not a rule
            reward_loop_worker_handles = [InProcessReward(config)]
        super().__init__(
            config, OneServerClient.like(llm_client), teacher_client, reward_loop_worker_handles
        )
        self._loop_classes: dict[str, type | None] = {}

    def _loop_class(self, agent_name: str) -> type | None:
        """The agent loop's class when its registry entry names only a class (``_target_``);
        None when it carries arguments for Hydra to pass."""
        if agent_name not in self._loop_classes:
            entry = _agent_loop_registry.get(agent_name)
            plain = entry is not None and set(entry) <= {"_target_", "name"}
            self._loop_classes[agent_name] = (
                get_class(entry["_target_"]) if entry and plain else None
            )
        return self._loop_classes[agent_name]

    async def _run_agent_loop(
        self,
        sampling_params: dict[str, Any],
        trajectory: dict[str, Any],
        *,
        agent_name: str,
        trace: bool = True,
        **kwargs: Any,
    ) -> Any:
        """veRL's, with the sample's agent loop built by calling its class: Hydra's
        ``instantiate``, per sample, checked and merged its config for ~3 ms, a sixth of this
        worker's time in a step (``benchmarks/trial_phases.py``, py-spy)."""
        loop_class = self._loop_class(agent_name)
        if loop_class is None:
            return await super()._run_agent_loop(
                sampling_params, trajectory, agent_name=agent_name, trace=trace, **kwargs
            )
        with rollout_trace_attr(
            step=trajectory["step"],
            sample_index=trajectory["sample_index"],
            rollout_n=trajectory["rollout_n"],
            validate=trajectory["validate"],
            name="agent_loop",
            trace=trace,
        ):
            agent_loop = loop_class(
                trainer_config=DictConfigWrap(config=self.config),
                server_manager=self.llm_client,
                tokenizer=self.tokenizer,
                processor=self.processor,
                hf_model_type=self.hf_model_type,
                dataset_cls=self.dataset_cls,
                data_config=DictConfigWrap(self.config.data),
                tools=ToolListWrap(self.tools),
            )
            output = await agent_loop.run(sampling_params, **kwargs)
            return await self._agent_loop_postprocess(output, trajectory["validate"], **kwargs)


class OneReplicaAgentLoopManager(AgentLoopManagerTQ):
    """veRL's TransferQueue agent-loop manager with one :class:`OneReplicaAgentLoopWorker`,
    run in this process on an event loop of its own thread."""

    _loop: asyncio.AbstractEventLoop
    _worker: OneReplicaAgentLoopWorker

    async def _init_agent_loop_workers(self) -> None:
        # veRL builds a token builder per sample and logs it at INFO (two lines a sample); in
        # the driver veRL's loggers log INFO, in a worker actor they did not.
        logging.getLogger("verl.utils.tokenizer.continuous_token_wiring").setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="agent-loop", daemon=True).start()
        self._worker = self._on_loop(self._build_worker())
        self.agent_loop_workers = [self._worker]

    async def _build_worker(self) -> OneReplicaAgentLoopWorker:
        """Built on the worker's loop: what it creates there (futures, sockets) belongs to it."""
        return OneReplicaAgentLoopWorker(
            self.config, self.llm_client, self.teacher_client, self.reward_loop_worker_handles
        )

    def _on_loop(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def generate_sequences(self, prompts: Any) -> None:
        """Hand the batch to the worker, which starts its agent loops and returns (veRL's
        contract: results reach the trainer through TransferQueue). The worker edits the
        batch it gets (``validate``, ``agent_name``): it gets a copy, as over Ray."""
        self._on_loop(self._worker.generate_sequences(prompts.copy()))
