"""The veRL CPU extension: batched hf generation, the rollout server, and a real GRPO job.

The job test runs ``python -m verl.trainer.main_ppo`` as a subprocess with a tiny random
Qwen2-style model, a tokenizer trained here, a tiny parquet in veRL's schema and a custom
reward function, all under ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rmsweep.overrides import hydra_value
from rmsweep.tiny_model import save_untrained
from rmsweep.verl_cpu import cpu_env, cpu_overrides

TEXTS = [
    "What is two plus two? The answer is four.",
    "Name a colour of the sky. Blue is the colour of the sky.",
    "Count to five: one two three four five.",
    "Which animal barks? A dog barks at night.",
    "Rate the response from 0 to 4. The response is short and clear.",
    "The quick brown fox jumps over the lazy dog.",
]
REWARD_FN = '''
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """Share of response characters that occur in the ground truth (varies per sample)."""
    if not solution_str:
        return 0.0
    return sum(c in ground_truth for c in solution_str) / len(solution_str)
'''


def build_tiny_model(root: Path, seed: int = 0) -> Path:
    """A random tiny model (hidden 64, 2 layers) with a tokenizer trained here on ``TEXTS``."""
    return save_untrained(root / "tiny-model", TEXTS, seed=seed, hidden_size=64)


def _prompts(model_path: Path) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    messages = [[{"role": "user", "content": text}] for text in TEXTS + ["Hi.", "Count."]]
    return [
        list(
            tokenizer.apply_chat_template(
                m, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
        for m in messages
    ]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("verl_cpu"))


def _load(model_path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_path, attn_implementation="sdpa").eval()


# --------------------------------------------------------------------------- generation


def test_left_padded_batch_matches_each_prompt_alone_greedy(tiny_model: Path) -> None:
    from rmsweep.verl_cpu.generate import SamplingSpec, generate_batch

    model = _load(tiny_model)
    prompts = _prompts(tiny_model)
    assert len({len(p) for p in prompts}) > 3, "prompts must differ in length to test padding"
    spec = SamplingSpec(max_new_tokens=12, temperature=0.0, logprobs=True)
    kw = {"eos_token_ids": [1], "pad_token_id": 0}
    batched = generate_batch(model, prompts, spec, **kw)
    alone = [generate_batch(model, [p], spec, **kw)[0] for p in prompts]
    assert [g.token_ids for g in batched] == [g.token_ids for g in alone]
    assert all(len(g.token_ids) > 0 for g in batched)
    for b, a in zip(batched, alone, strict=True):
        assert b.log_probs is not None and a.log_probs is not None
        assert max(abs(x - y) for x, y in zip(b.log_probs, a.log_probs, strict=True)) < 1e-4


def test_seeded_sampling_does_not_depend_on_batch_mates(tiny_model: Path) -> None:
    from rmsweep.verl_cpu.generate import SamplingSpec, generate_batch

    model = _load(tiny_model)
    prompts = _prompts(tiny_model)
    spec = SamplingSpec(max_new_tokens=10, temperature=1.0, top_k=50, top_p=0.9)
    seeds = list(range(100, 100 + len(prompts)))
    kw = {"eos_token_ids": [1], "pad_token_id": 0}
    batched = generate_batch(model, prompts, spec, seeds=seeds, **kw)
    alone = [
        generate_batch(model, [p], spec, seeds=[s], **kw)[0]
        for p, s in zip(prompts, seeds, strict=True)
    ]
    reversed_batch = generate_batch(model, prompts[::-1], spec, seeds=seeds[::-1], **kw)[::-1]
    assert [g.token_ids for g in batched] == [g.token_ids for g in alone]
    assert [g.token_ids for g in batched] == [g.token_ids for g in reversed_batch]
    other_seeds = generate_batch(model, prompts, spec, seeds=[s + 1 for s in seeds], **kw)
    assert [g.token_ids for g in other_seeds] != [g.token_ids for g in batched]


def test_per_request_limit_and_stop_tokens(tiny_model: Path) -> None:
    from rmsweep.verl_cpu.generate import SamplingSpec, generate_batch

    model = _load(tiny_model)
    prompts = _prompts(tiny_model)[:2]
    spec = SamplingSpec(max_new_tokens=8, temperature=0.0)
    full = generate_batch(model, prompts, spec, eos_token_ids=[], pad_token_id=0)
    short = generate_batch(
        model, prompts, spec, eos_token_ids=[], pad_token_id=0, max_new_tokens=[3, 8]
    )
    assert short[0].token_ids == full[0].token_ids[:3]
    assert short[1].token_ids == full[1].token_ids
    stop = full[1].token_ids[2]
    stopped = generate_batch(model, [prompts[1]], spec, eos_token_ids=[stop], pad_token_id=0)[0]
    first = full[1].token_ids.index(stop)
    assert stopped.token_ids == full[1].token_ids[: first + 1]


# --------------------------------------------------------------------------- server


def _server(model_path: Path):
    from verl.workers.config import HFModelConfig, RolloutConfig

    from rmsweep.verl_cpu.rollout_server import HFRolloutServer

    rollout = RolloutConfig(
        name="hf", prompt_length=64, response_length=12, tensor_model_parallel_size=1
    )
    model = HFModelConfig(path=str(model_path), override_config={"attn_implementation": "sdpa"})
    return HFRolloutServer(rollout, model, replica_rank=0)


def test_server_batches_concurrent_requests_and_syncs_weights(tiny_model: Path) -> None:
    import torch

    from rmsweep.verl_cpu.generate import SamplingSpec, generate_batch

    server = _server(tiny_model)
    prompts = _prompts(tiny_model)
    greedy = {
        "temperature": 0,
        "top_p": 1.0,
        "top_k": -1,
        "repetition_penalty": 1.0,
        "logprobs": True,
    }

    async def run_all(params: dict) -> list:
        return await asyncio.gather(
            *[
                server.generate(prompt_ids=p, sampling_params=dict(params), request_id=str(i))
                for i, p in enumerate(prompts)
            ]
        )

    outputs = asyncio.run(run_all(greedy))
    assert asyncio.run(server.batch_sizes()) == [len(prompts)]  # one generate for all of them
    spec = SamplingSpec(max_new_tokens=12, temperature=0.0)
    kw = {"eos_token_ids": server.eos_token_ids, "pad_token_id": server.pad_token_id}
    alone = [generate_batch(server.model, [p], spec, **kw)[0].token_ids for p in prompts]
    assert [o.token_ids for o in outputs] == alone
    assert all(o.log_probs is not None and len(o.log_probs) == len(o.token_ids) for o in outputs)
    assert {o.extra_fields["global_steps"] for o in outputs} == {0}

    sampled = {**greedy, "temperature": 1.0, "logprobs": False}
    first = asyncio.run(run_all(sampled))
    assert all(o.log_probs is None for o in first)

    # Named samples (as the hf agent loop sends them) draw the same tokens in any order and
    # batch; the n samples of one prompt differ.
    one = prompts[0]
    named = [(one, f"0/{k}") for k in range(4)] + [
        (p, f"{i}/0") for i, p in enumerate(prompts[1:], 1)
    ]

    async def run_named(srv, items: list) -> dict:
        outs = await asyncio.gather(
            *[
                srv.generate(
                    prompt_ids=p,
                    sampling_params={**sampled, "rmsweep_sample_id": sid},
                    request_id=sid,
                )
                for p, sid in items
            ]
        )
        return {sid: o.token_ids for (_, sid), o in zip(items, outs, strict=True)}

    # Fresh servers: a server tells repeats of one sample id apart within a weight version.
    forward = asyncio.run(run_named(server, named))
    backward = asyncio.run(run_named(_server(tiny_model), named[::-1]))
    single = _server(tiny_model)
    alone = {sid: asyncio.run(run_named(single, [(p, sid)]))[sid] for p, sid in named[:3]}
    assert forward == backward
    assert all(alone[sid] == forward[sid] for sid in alone)
    assert len({tuple(forward[f"0/{k}"]) for k in range(4)}) > 1

    state = {k: v + 0.5 * torch.randn_like(v) for k, v in server.model.state_dict().items()}
    assert asyncio.run(server.load_weights(list(state.items()), global_steps=3)) == len(state)
    after = asyncio.run(run_all(greedy))
    assert {o.extra_fields["global_steps"] for o in after} == {3}
    assert [o.token_ids for o in after] != [o.token_ids for o in outputs]
    with pytest.raises(ValueError, match="unexpected"):
        asyncio.run(server.load_weights({"no.such.weight": torch.zeros(1)}))
    without_norm = {k: v for k, v in state.items() if k != "model.norm.weight"}
    with pytest.raises(ValueError, match=r"missing \['model.norm.weight'\]"):
        asyncio.run(server.load_weights(without_norm))


def test_sampling_params_follow_verl_conventions() -> None:
    from rmsweep.verl_cpu.rollout_server import parse_sampling_params

    greedy = parse_sampling_params(
        {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": False}, default_max_tokens=9
    )
    assert greedy.greedy and greedy.max_new_tokens == 9 and not greedy.logprobs
    sampled = parse_sampling_params(
        {"temperature": 0.7, "top_k": 5, "top_p": 0.9, "logprobs": True, "max_new_tokens": 4},
        default_max_tokens=9,
    )
    assert (sampled.temperature, sampled.top_k, sampled.top_p) == (0.7, 5, 0.9)
    assert sampled.logprobs and sampled.max_new_tokens == 4 and not sampled.greedy
    assert parse_sampling_params(
        {"max_tokens": 3, "stop_token_ids": [7, 2]}, default_max_tokens=9
    ) == (
        parse_sampling_params({"max_new_tokens": 3, "stop_token_ids": (2, 7)}, default_max_tokens=9)
    )
    assert greedy.batch_key() != sampled.batch_key()


def test_server_abort_drops_queued_requests(tiny_model: Path) -> None:
    server = _server(tiny_model)
    prompt = _prompts(tiny_model)[0]

    async def scenario() -> tuple:
        params = {"temperature": 0}
        pending = asyncio.ensure_future(
            server.generate(prompt_ids=prompt, sampling_params=params, request_id="a")
        )
        await asyncio.sleep(0)  # let it queue
        aborted = await server.abort_all_requests(reject_request=True)
        dropped = await pending
        rejected = await server.generate(prompt_ids=prompt, sampling_params=params, request_id="b")
        await server.resume_generation()
        served = await server.generate(prompt_ids=prompt, sampling_params=params, request_id="c")
        await server.wait_for_requests_to_drain()
        return aborted, dropped, rejected, served

    aborted, dropped, rejected, served = asyncio.run(scenario())
    assert aborted == {"aborted_count": 1, "request_ids": ["a"]}
    assert dropped.stop_reason == "aborted" and dropped.token_ids == []
    assert rejected.stop_reason == "aborted"
    assert served.stop_reason == "completed" and served.token_ids


# --------------------------------------------------------------------------- registration


def test_registration_through_verl_external_modules() -> None:
    code = (
        "import sys, verl\n"
        "from verl.plugin.platform import get_platform\n"
        "from verl.workers.rollout.base import get_rollout_class\n"
        "from verl.workers.rollout.replica import get_rollout_replica_class\n"
        "import rmsweep.verl_cpu as ext; ext.register(); ext.register()\n"
        "p = get_platform()\n"
        "print(p.device_name, p.communication_backend_name(), p.ray_resource_name(),\n"
        "      get_rollout_class('hf').__name__, get_rollout_replica_class('hf').__name__,\n"
        "      'vllm' in sys.modules)\n"
    )
    env = {**os.environ, **cpu_env()}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["cpu", "gloo", "GPU", "HFServerAdapter", "HFReplica", "False"]


def test_import_is_cheap_and_env_names_the_extension() -> None:
    code = "import sys, rmsweep.verl_cpu as e; print(e.cpu_env()['VERL_USE_EXTERNAL_MODULES'], *(m in sys.modules for m in ('torch', 'ray', 'verl', 'vllm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["rmsweep.verl_cpu", "False", "False", "False", "False"]
    assert cpu_env()["VERL_PLATFORM"] == "cpu"


def test_cpu_overrides_compose_with_verls_own_config() -> None:
    import verl
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=cpu_overrides())
    for override in cpu_overrides():
        key, value = override.lstrip("+").split("=", 1)
        got = OmegaConf.select(cfg, key)
        assert got is not None, f"{key} missing after composing"
        if not value.startswith("{"):
            assert str(got) == value.strip("'"), f"{key}: {got!r} != {value!r}"
    assert cfg.actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype == "fp32"


def test_gpu_device_gets_only_the_hf_rollout_part() -> None:
    from rmsweep.errors import ConfigError

    gpu = cpu_overrides(device="gpu")
    assert set(gpu) < set(cpu_overrides("cpu"))
    assert "actor_rollout_ref.rollout.name=hf" in gpu
    assert not any(
        o.startswith(("trainer.device", "++ray_kwargs", "actor_rollout_ref.actor")) for o in gpu
    )
    assert cpu_env("gpu") == {"VERL_USE_EXTERNAL_MODULES": "rmsweep.verl_cpu"}
    with pytest.raises(ConfigError, match="device.name"):
        cpu_overrides(device="tpu")


def test_backend_string_is_normalised() -> None:
    from rmsweep.verl_cpu.platform import normalise_backend

    assert normalise_backend("cpu:gloo,cpu:gloo") == "cpu:gloo"
    assert normalise_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert normalise_backend("gloo") == "gloo"


# --------------------------------------------------------------------------- real job


def write_dataset(root: Path, n_train: int = 8, n_val: int = 4) -> tuple[Path, Path]:
    import pandas as pd

    def rows(split: str, n: int) -> list[dict]:
        return [
            {
                "data_source": "tiny",
                "prompt": [{"role": "user", "content": TEXTS[i % len(TEXTS)]}],
                "ability": "rating",
                "reward_model": {"style": "rule", "ground_truth": TEXTS[(i + 1) % len(TEXTS)]},
                "extra_info": {"split": split, "index": i},
            }
            for i in range(n)
        ]

    train, val = root / "train.parquet", root / "val.parquet"
    pd.DataFrame(rows("train", n_train)).to_parquet(train)
    pd.DataFrame(rows("val", n_val)).to_parquet(val)
    return train, val


def job_command(
    root: Path, model: Path, train: Path, val: Path, reward: Path, steps: int
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "verl.trainer.main_ppo",
        *cpu_overrides(),
        # What a Ray job's actors need, as the caller passes it (the local Ray that this
        # driver starts would inherit its environment anyway).
        *[
            f"+ray_kwargs.ray_init.runtime_env.env_vars.{k}={hydra_value(v)}"
            for k, v in cpu_env().items()
        ],
        "algorithm.adv_estimator=grpo",
        f"data.train_files={train}",
        f"data.val_files={val}",
        "data.train_batch_size=4",
        "data.max_prompt_length=64",
        "data.max_response_length=8",
        "data.seed=7",
        f"actor_rollout_ref.model.path={model}",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        "algorithm.use_kl_in_reward=False",
        f"reward.custom_reward_function.path={reward}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.logger=[console]",
        "trainer.project_name=rmsweep_test",
        "trainer.experiment_name=verl_cpu",
        "trainer.val_before_train=True",
        "trainer.test_freq=-1",
        "trainer.save_freq=-1",
        "trainer.resume_mode=disable",
        f"trainer.total_training_steps={steps}",
        f"trainer.default_local_dir={root / 'checkpoints'}",
    ]


# Values print as 0.5, nan, or np.float64(0.5) / np.int64(2).
_METRIC = re.compile(r"([\w@/\-.]+):(?:np\.\w+\()?([-+0-9.eE]+|nan|inf)\)?")


def parse_step_lines(output: str) -> dict[int, dict[str, float]]:
    """veRL's console logger prints one 'step:N - key:value - ...' line per step."""
    steps: dict[int, dict[str, float]] = {}
    for line in output.splitlines():
        if "step:" not in line:
            continue
        metrics = {k: float(v) for k, v in _METRIC.findall(line)}
        if "step" in metrics:
            steps.setdefault(int(metrics["step"]), {}).update(metrics)
    return steps


def run_job(
    root: Path, steps: int = 3, timeout: int = 900
) -> tuple[subprocess.CompletedProcess, float]:
    root.mkdir(parents=True, exist_ok=True)
    model = build_tiny_model(root)
    train, val = write_dataset(root)
    reward = root / "reward_fn.py"
    reward.write_text(REWARD_FN)
    env = {**os.environ, **cpu_env(), "RAY_DEDUP_LOGS": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    start = time.monotonic()
    proc = subprocess.run(
        job_command(root, model, train, val, reward, steps),
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    (root / "job.log").write_text(proc.stdout + "\n----- stderr -----\n" + proc.stderr)
    return proc, time.monotonic() - start


@pytest.fixture(scope="module")
def first_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    root = tmp_path_factory.mktemp("grpo") / "job"
    proc, wall = run_job(root, steps=3)
    print(f"job wall {wall:.1f}s")
    return proc, root


def _check_ok(proc: subprocess.CompletedProcess, root: Path) -> dict[int, dict[str, float]]:
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"main_ppo failed (log {root / 'job.log'}):\n{tail}"
    steps = parse_step_lines(proc.stdout)
    assert {0, 1, 2, 3} <= set(steps), f"no metrics for steps 0-3 in:\n{tail}"
    return steps


def test_grpo_job_runs_on_cpu(first_job: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, root = first_job
    steps = _check_ok(proc, root)
    assert any(k.startswith("val-core/tiny/") for k in steps[0]), "no validation before training"
    for step in (1, 2, 3):
        assert "critic/score/mean" in steps[step]
        assert "actor/pg_loss" in steps[step]
        assert steps[step]["response_length/mean"] > 0
        # Rollout log-probs (hf server, fp32) agree with the actor's recomputation.
        assert steps[step]["training/rollout_probs_diff_max"] < 1e-4
    # The hf server batched the agent loop's concurrent requests (4 prompts x n=2 a step).
    pattern = r"hf rollout server 0: \d+ requests in \d+ batch\(es\), largest (\d+)"
    batches = [int(m) for m in re.findall(pattern, proc.stdout)]
    assert batches and max(batches) > 1, "no batched generation reported"
    # Rewards are scored by the agent-loop worker, which runs in veRL's driver (no reward-loop
    # or agent-loop actor is started; the latter prints as it starts), and TransferQueue runs
    # within the host's cores (no warning on every put and get).
    assert "RewardLoopWorker pid=" not in proc.stdout + proc.stderr
    assert "AgentLoopWorker pid=" not in proc.stdout + proc.stderr
    assert "should not exceed total physical CPU cores" not in proc.stdout + proc.stderr
    print("step timings:", {s: steps[s].get("timing_s/step") for s in (1, 2, 3)})


# That a seeded rerun reproduces every metric exactly is test_run_train.py's
# test_reproduce_matches_exactly: the same extension, through `rmsweep run reproduce`.
