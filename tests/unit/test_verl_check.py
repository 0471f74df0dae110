"""`--check`: veRL's own config, composed as the job composes it, validated by veRL itself.

Every shipped GPU configuration (each trainer and model preset, each corner of the GPU sweeps)
passes with 1, 4 and 8 GPUs per node on 1 and 2 nodes; a planted bad one fails in one line.
"""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rmsweep.cli import main
from rmsweep.config import REPO_ROOT, compose
from rmsweep.errors import ConfigError, SpecError
from rmsweep.study import check_space, corners, load_spec, to_overrides
from rmsweep.study._base import base_overrides
from rmsweep.verl_check import check, compose_grpo, validate_grpo

GPUS_PER_NODE = (1, 4, 8)
NNODES = (1, 2)
MODELS = sorted(p.stem for p in (REPO_ROOT / "configs" / "model").glob("*.yaml"))
GPU_TRAINERS = sorted(p.stem for p in (REPO_ROOT / "configs" / "trainer").glob("grpo_gpu*.yaml"))
GPU_SPECS = ("helpsteer2_pointwise", "rmr1_pairwise")
PLANTED = ["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu", "device.gpus_per_node=7"]

pytestmark = pytest.mark.usefixtures("workdir")


def _hydra_compose(config_name: str, overrides: list[str]):
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name=config_name, overrides=overrides)


@pytest.mark.parametrize(
    "overrides",
    [[], ["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu", "device.attention=sdpa"]],
)
def test_the_check_composes_exactly_as_hydra_does(overrides: list[str]) -> None:
    from rmsweep import verl
    from rmsweep.verl_check._plan import _inputs

    cfg = compose(overrides)
    job_args = verl.main_ppo_overrides(cfg, _inputs(cfg))
    expected = OmegaConf.to_container(_hydra_compose("ppo_trainer", job_args))
    assert OmegaConf.to_container(compose_grpo(cfg)) == expected


@pytest.mark.parametrize(("model", "trainer"), itertools.product(MODELS, GPU_TRAINERS))
def test_every_gpu_preset_passes_verls_validation(model: str, trainer: str) -> None:
    assert len(MODELS) >= 3 and len(GPU_TRAINERS) >= 2
    for gpus, nodes in itertools.product(GPUS_PER_NODE, NNODES):
        overrides = ["device=gpu", f"model={model}", f"trainer={trainer}"]
        (plan,) = check(
            compose([*overrides, f"device.gpus_per_node={gpus}", f"device.nnodes={nodes}"])
        )
        assert (plan.gpus_per_node, plan.nnodes) == (gpus, nodes)
        assert plan.rollout == "vllm, tensor parallel 1"
        assert plan.parameters and plan.memory_gib > 0


@pytest.mark.parametrize("name", GPU_SPECS)
def test_every_corner_of_the_gpu_sweeps_passes_on_every_cluster_shape(name: str) -> None:
    """Each corner at the spec's own shape; then every cluster shape for each distinct batch
    layout among the corners. The shape reaches veRL's checks as trainer.n_gpus_per_node and
    trainer.nnodes only (asserted last), and those checks combine it with the batch sizes."""
    spec = load_spec(REPO_ROOT / "sweeps" / f"{name}.yaml")
    points = corners(spec.space)
    assert len(points) >= 24
    base = base_overrides(spec, [], spec.name)
    layouts = {}
    for values in points:
        composed = compose_grpo(compose([*base, *to_overrides(spec.space, values)]))
        validate_grpo(composed)
        arr = composed.actor_rollout_ref
        layout = (
            composed.data.train_batch_size,
            arr.rollout.n,
            arr.actor.ppo_mini_batch_size,
            arr.actor.ppo_micro_batch_size_per_gpu,
        )
        layouts.setdefault(layout, composed)
    for composed in layouts.values():
        for gpus, nodes in itertools.product(GPUS_PER_NODE, NNODES):
            shaped = copy.deepcopy(composed)
            shaped.trainer.n_gpus_per_node, shaped.trainer.nnodes = gpus, nodes
            validate_grpo(shaped)
    device = ["device.gpus_per_node=4", "device.nnodes=2"]
    first = to_overrides(spec.space, points[0])
    full = compose_grpo(compose([*base, *first, *device]))
    shaped = compose_grpo(compose([*base, *first]))
    shaped.trainer.n_gpus_per_node, shaped.trainer.nnodes = 4, 2
    assert OmegaConf.to_container(full) == OmegaConf.to_container(shaped)


def test_a_spec_whose_corner_veRL_refuses_fails_naming_the_corner() -> None:
    spec = load_spec(REPO_ROOT / "sweeps" / "rmr1_pairwise.yaml")
    with pytest.raises(SpecError) as err:
        check_space(spec, ["device.gpus_per_node=3"])
    lines = str(err.value).splitlines()
    assert len(lines) == 3  # one per distinct refusal: rollout_n 4, 8 and 16
    assert lines[0].startswith(f"{spec.source}: trial values template=pairwise_rubrics")
    assert "trainer.rollout_n=4: veRL rejects this config: real_train_batch_size (256)" in lines[0]
    assert (
        "real_train_batch_size (1024) must be divisible by minimal possible batch size (3)"
        in lines[2]
    )


def test_a_planted_bad_config_fails_in_one_line_naming_the_keys() -> None:
    with pytest.raises(ConfigError) as err:
        check(compose(PLANTED))
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        "veRL rejects this config: real_train_batch_size (512) must be divisible by minimal "
        "possible batch size (7) (change trainer.train_batch_size × trainer.rollout_n, "
        "device.gpus_per_node × device.nnodes)"
    )


def test_the_memory_estimate_shards_the_actor_over_every_gpu() -> None:
    one, eight = (
        check(
            compose(
                ["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu", f"device.gpus_per_node={g}"]
            )
        )[0]
        for g in (1, 8)
    )
    memory = dict(one.memory)
    actor = memory["actor (FSDP: weights, grads, AdamW)"]
    # fp32 weights and grads, AdamW's two fp32 moments: 16 bytes a parameter on one GPU
    assert actor == pytest.approx(8.19e9 * 16 / 1024**3)
    assert dict(eight.memory)["actor (FSDP: weights, grads, AdamW)"] == pytest.approx(actor / 8)
    assert memory["vllm rollout weights"] == pytest.approx(8.19e9 * 2 / 1024**3)  # bf16, TP 1
    assert any("exceeds an 80 GiB GPU" in note for note in one.notes)
    assert not any("exceeds" in note for note in eight.notes)


def test_the_tiny_model_is_counted_from_its_config() -> None:
    (plan,) = check(compose([]))
    from transformers import Qwen2ForCausalLM

    from rmsweep.tiny_model import tiny_hf_config

    model = Qwen2ForCausalLM(tiny_hf_config(compose([]).model.tiny, vocab_size=400))
    assert plan.parameters == sum(p.numel() for p in model.parameters())
    assert plan.parameters_from == "the tiny model's config"


def test_sft_is_checked_against_verls_sft_trainer_config() -> None:
    traces = ["data=traces_pairwise", "template=pairwise_verdict", "data.path=t.jsonl"]
    (plan,) = check(compose(["device=gpu", "model=qwen2_5_0_5b", *traces]), stage="sft")
    assert plan.stage == "sft" and plan.trainer == "verl.trainer.sft_trainer"
    assert plan.attention.startswith("flash_attention_2")
    with pytest.raises(ConfigError, match="SFT runs as one process on one GPU"):
        check(compose(["device=gpu", "device.gpus_per_node=2", *traces]), stage="sft")
    grpo_after_sft = check(compose(["sft.traces=t.jsonl"]))
    assert [p.stage for p in grpo_after_sft] == ["sft", "grpo"]


def _cli(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.argv", ["rmsweep", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out, out.err


def test_run_train_check_prints_the_jobs_table_and_makes_nothing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    args = ["run", "train", "--check", "device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"]
    code, out, err = _cli(args, monkeypatch, capsys)
    assert code == 0, err
    for shown in ("1 per node × 1 node", "vllm, tensor parallel 1", "8.19 B", "GiB per GPU"):
        assert shown in out
    assert "veRL's own validation passed" in out
    assert not workdir.exists()  # no store, no prepared data, no model
    code, out, err = _cli(["run", "train", "--check", *PLANTED], monkeypatch, capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: veRL rejects this config: real_train_batch_size (512)")
