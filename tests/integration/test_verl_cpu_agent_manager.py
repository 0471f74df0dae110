"""The CPU agent-loop manager's two shortcuts, on a real local Ray and veRL's own classes.

- ``OneServerClient`` asks veRL's load balancer once, then sends every request straight to
  that server, and leaves the balancer's count of requests in flight at zero.
- ``InProcessReward`` gives the scores veRL's ``RewardLoopWorker`` gives, and, like a Ray
  call, leaves the caller's data as it was.
"""

from __future__ import annotations

import asyncio
import copy
import os
from pathlib import Path

import pytest

from rmsweep.launch._head import LOOPBACK_ENV

REWARD_FN = """
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return {"score": float(len(solution_str)), "acc": solution_str == ground_truth}
"""


@pytest.fixture(scope="module")
def local_ray():
    import ray

    os.environ.update(LOOPBACK_ENV)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_one_server_client_routes_once(local_ray) -> None:
    from omegaconf import OmegaConf
    from verl.workers.rollout.llm_server import LLMServerClient
    from verl.workers.rollout.replica import TokenOutput
    from verl.workers.rollout.router import GlobalRequestLoadBalancer

    from rmsweep.verl_cpu.agent_manager import OneServerClient

    class CountingBalancer(GlobalRequestLoadBalancer):
        acquired = 0

        def acquire_server(self, request_id: str):
            self.acquired += 1
            return super().acquire_server(request_id)

        def count(self) -> int:
            return self.acquired

    @local_ray.remote
    class EchoServer:
        def __init__(self) -> None:
            self.calls = 0

        async def generate(self, prompt_ids, sampling_params, request_id, **kwargs):
            self.calls += 1
            return TokenOutput(token_ids=list(prompt_ids)[::-1], extra_fields={"global_steps": 3})

        def seen(self) -> int:
            return self.calls

    server = EchoServer.remote()
    balancer = local_ray.remote(CountingBalancer).remote(servers={"s0": server})
    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"name": "hf"}}})
    client = OneServerClient.like(LLMServerClient(config, load_balancer_handle=balancer))

    async def ask_all() -> list:
        return await asyncio.gather(
            *(client.generate(f"r{i}", prompt_ids=[i, i + 1], sampling_params={}) for i in range(6))
        )

    outputs = asyncio.run(ask_all())
    assert [o.token_ids for o in outputs] == [[i + 1, i] for i in range(6)]
    assert all(o.extra_fields["min_global_steps"] == 3 for o in outputs)
    assert local_ray.get(server.seen.remote()) == 6
    assert local_ray.get(balancer.count.remote()) == 1
    assert local_ray.get(balancer.get_total_inflight.remote()) == 0


def _reward_config(tmp_path: Path):
    from omegaconf import OmegaConf
    from unit.test_verl_overrides import _compose_verl  # veRL's own ppo_trainer config

    model = tmp_path / "model"
    from rmsweep.tiny_model import save_untrained

    save_untrained(model, ["the answer is four", "the sky is blue"], seed=0, hidden_size=32)
    reward_file = tmp_path / "reward_fn.py"
    reward_file.write_text(REWARD_FN)
    cfg = _compose_verl(
        [
            f"actor_rollout_ref.model.path={model}",
            f"reward.custom_reward_function.path={reward_file}",
            "reward.custom_reward_function.name=compute_score",
        ]
    )
    return OmegaConf.create(OmegaConf.to_container(cfg)), model


def _one_sample(model: Path, response: str):
    import numpy as np
    import torch
    from tensordict import TensorDict
    from transformers import AutoTokenizer
    from verl import DataProto

    tokenizer = AutoTokenizer.from_pretrained(model)
    prompt = tokenizer("rate this", add_special_tokens=False)["input_ids"]
    reply = tokenizer(response, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + reply])
    batch = TensorDict(
        {
            "prompts": torch.tensor([prompt]),
            "responses": torch.tensor([reply]),
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "position_ids": torch.arange(ids.shape[1]).unsqueeze(0),
        },
        batch_size=1,
    )
    extra = {"index": 0}
    non_tensor = {
        "data_source": np.array(["tiny"]),
        "reward_model": np.array([{"ground_truth": "the sky is blue"}]),
        "extra_info": np.array([extra]),
        "__num_turns__": np.array([2]),
    }
    return DataProto(batch=batch, non_tensor_batch=non_tensor), extra


def test_in_process_reward_scores_as_the_reward_worker_does(tmp_path: Path) -> None:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    from rmsweep.verl_cpu.agent_manager import InProcessReward

    config, model = _reward_config(tmp_path)

    async def both(response: str) -> tuple[dict, dict, dict, dict]:
        ours_data, ours_extra = _one_sample(model, response)
        theirs_data, _ = _one_sample(model, response)
        before = copy.deepcopy(ours_extra)
        ours = await InProcessReward(config).compute_score.remote(ours_data)
        theirs = await RewardLoopWorker(config, None).compute_score(theirs_data)
        return ours, theirs, before, ours_extra

    for response in ("the sky is blue", "four"):
        ours, theirs, before, after = asyncio.run(both(response))
        assert ours == theirs
        assert ours["reward_score"] == float(len(response))
        assert after == before, "the caller's extra_info was changed"


def test_the_cpu_router_balances_without_importing_verl(local_ray) -> None:
    import sys

    from rmsweep.verl_cpu.router import LeastBusyRouter

    @local_ray.remote
    class Server:
        pass

    one, two = Server.remote(), Server.remote()
    router = local_ray.remote(LeastBusyRouter).remote({"a": one, "b": two}, {})
    first = local_ray.get(router.acquire_server.remote("r1"))[0]
    second = local_ray.get(router.acquire_server.remote("r2"))[0]
    assert {first, second} == {"a", "b"}  # the least busy each time
    router.release_server.remote(first)
    assert local_ray.get(router.acquire_server.remote("r3"))[0] == first
    assert local_ray.get(router.get_total_inflight.remote()) == 2
    router.remove_servers.remote([first])
    assert local_ray.get(router.get_all_servers.remote()) == [second]
    assert not local_ray.get(router.__ray_call__.remote(lambda _self: "verl" in sys.modules))


def test_the_worker_builds_plain_agent_loops_by_their_class() -> None:
    """An agent loop listed by class alone (ours, in agent_loops.yaml) is built by calling the
    class; one listed with arguments still goes through Hydra, which passes them on."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    from rmsweep.verl_cpu import AGENT_LOOPS_YAML
    from rmsweep.verl_cpu.agent_loop import AGENT_NAME, SeededSingleTurnAgentLoop
    from rmsweep.verl_cpu.agent_manager import OneReplicaAgentLoopWorker

    for entry in OmegaConf.load(AGENT_LOOPS_YAML):  # as veRL's worker registers them
        _agent_loop_registry[entry.name] = entry
    _agent_loop_registry["with_args"] = OmegaConf.create(
        {"name": "with_args", "_target_": "x.Loop", "max_turns": 3}
    )
    worker = SimpleNamespace(_loop_classes={})
    loop_class = OneReplicaAgentLoopWorker._loop_class
    assert loop_class(worker, AGENT_NAME) is SeededSingleTurnAgentLoop
    assert loop_class(worker, "with_args") is None
    assert loop_class(worker, "never_registered") is None  # veRL's own assert then names it
