"""Resolved config -> the overrides and environment of one ``verl.trainer.main_ppo`` job.

The one place that knows veRL 0.9.1's config keys. ``tests/unit/test_verl_overrides.py``
composes the result against veRL's own installed ``ppo_trainer`` config, so a misspelt key
fails there instead of being silently ignored by a run.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rmsweep.config import REPO_ROOT
from rmsweep.overrides import hydra_value

REWARD_FN_DIR = REPO_ROOT / "reward_fns"
EXTERNAL_MODULES_ENV = "VERL_USE_EXTERNAL_MODULES"
JOB_MODULE = "rmsweep.job"  # wraps veRL's trainer: training, checkpoint export, eval
VERL_CHECKPOINT_SUBDIR = "verl"  # veRL's own checkpoint folder, inside the run's
MODEL_SUBDIR = "model"  # the exported Hugging Face model, inside the run's


@dataclass(frozen=True)
class JobInputs:
    """What a job needs besides the config: prepared files, the model and the MLflow run."""

    train_file: Path
    val_file: Path
    model_path: str
    run_id: str
    tracking_uri: str
    checkpoint_dir: Path


def reward_fn_file(cfg: DictConfig) -> Path:
    """The reward_fns entry file veRL loads by path for this config's task."""
    return REWARD_FN_DIR / ("pairwise.py" if cfg.template.task == "pairwise" else "pointwise.py")


def reward_kwargs(cfg: DictConfig) -> dict[str, object]:
    """The keyword arguments veRL passes to ``compute_score`` (shape, k, … or pairwise mode)."""
    r = cfg.reward
    if cfg.template.task == "pairwise":
        return {"mode": r.pairwise_mode, "format_penalty": r.format_penalty}
    return {
        "shape": r.shape,
        "k": r.k,
        "sigma": r.sigma,
        "scale_min": r.scale_min,
        "scale_max": r.scale_max,
        "format_penalty": r.format_penalty,
    }


def job_env(cfg: DictConfig, inputs: JobInputs) -> dict[str, str]:
    """Environment for the job's driver and, through ray_init's runtime_env, its Ray actors."""
    from rmsweep import verl_mlflow

    env = {
        "MLFLOW_TRACKING_URI": inputs.tracking_uri,
        "MLFLOW_RUN_ID": inputs.run_id,
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        verl_mlflow.DATA_SOURCE_ENV: str(cfg.data.name),
    }
    if cfg.device.threads is not None:  # Ray sets 1 where it is unset
        env["OMP_NUM_THREADS"] = str(cfg.device.threads)
    modules = [verl_mlflow.MODULE]  # every device: veRL's MLflow logging, rmsweep's way
    if cfg.device.name == "cpu" or cfg.device.rollout == "hf":
        from rmsweep.verl_cpu import cpu_env

        extension = cpu_env(device=cfg.device.name)
        modules += extension.pop(EXTERNAL_MODULES_ENV).split(",")
        env.update(extension)
    # veRL imports each comma-separated module on `import verl`, in every process.
    env[EXTERNAL_MODULES_ENV] = ",".join(modules)
    return env


def submit_env(cfg: DictConfig, inputs: JobInputs) -> dict[str, str]:
    """The Ray job's own environment: ``job_env`` plus leave to repeat it in ray.init.

    veRL's driver calls ``ray.init(runtime_env=…)`` with the same variables; without
    RAY_OVERRIDE_JOB_RUNTIME_ENV Ray refuses to merge two runtime envs that share keys.
    """
    return {**job_env(cfg, inputs), "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1"}


def main_ppo_overrides(cfg: DictConfig, inputs: JobInputs) -> list[str]:
    """Hydra overrides for ``python -m verl.trainer.main_ppo`` (GRPO) from a resolved config."""
    t, d = cfg.trainer, cfg.device
    values: dict[str, object] = {
        "algorithm.adv_estimator": "grpo",
        "algorithm.use_kl_in_reward": False,
        "data.train_files": str(inputs.train_file),
        "data.val_files": str(inputs.val_file),
        "data.train_batch_size": t.train_batch_size,
        "data.val_batch_size": t.val_batch_size,
        "data.val_max_samples": -1 if t.max_val_samples is None else t.max_val_samples,
        "data.max_prompt_length": t.max_prompt_length,
        "data.max_response_length": t.max_response_length,
        "data.shuffle": True,
        "data.seed": cfg.seed,
        "data.dataloader_num_workers": 0,
        "actor_rollout_ref.model.path": inputs.model_path,
        "actor_rollout_ref.actor.optim.lr": t.lr,
        "actor_rollout_ref.actor.optim.lr_warmup_steps": t.warmup_steps or -1,
        "actor_rollout_ref.actor.ppo_mini_batch_size": t.ppo_mini_batch_size,
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": t.micro_batch_size_per_gpu,
        "actor_rollout_ref.actor.use_kl_loss": t.use_kl_loss,
        "actor_rollout_ref.actor.kl_loss_coef": t.kl_coef,
        "actor_rollout_ref.actor.entropy_coeff": t.entropy_coeff,
        "actor_rollout_ref.actor.data_loader_seed": cfg.seed,
        "actor_rollout_ref.rollout.name": d.rollout,
        "actor_rollout_ref.rollout.n": t.rollout_n,
        "actor_rollout_ref.rollout.temperature": t.temperature,
        "actor_rollout_ref.rollout.seed": cfg.seed,
        "actor_rollout_ref.rollout.tensor_model_parallel_size": 1,
        "actor_rollout_ref.rollout.gpu_memory_utilization": d.gpu_memory_utilization,
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": t.micro_batch_size_per_gpu,
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": t.micro_batch_size_per_gpu,
        "reward.custom_reward_function.path": str(reward_fn_file(cfg)),
        "reward.custom_reward_function.name": "compute_score",
        "trainer.total_training_steps": t.total_steps,
        "trainer.test_freq": t.test_freq,
        "trainer.val_before_train": True,
        # Save the actor as a Hugging Face model once, at the last step (rmsweep.job exports it).
        "trainer.save_freq": t.total_steps,
        "actor_rollout_ref.actor.checkpoint.save_contents": ["hf_model"],
        "trainer.resume_mode": "disable",
        "trainer.default_local_dir": str(inputs.checkpoint_dir / VERL_CHECKPOINT_SUBDIR),
        "trainer.project_name": cfg.experiment,
        # Unique per run: veRL's trackers key their state on it.
        "trainer.experiment_name": f"{cfg.experiment}-{inputs.run_id}",
        "trainer.logger": ["console", "mlflow"],
        "trainer.n_gpus_per_node": d.gpus_per_node,
        "trainer.nnodes": d.nnodes,
        "trainer.log_val_generations": 0,
    }
    overrides = [f"{key}={hydra_value(value)}" for key, value in values.items()]
    for key, value in reward_kwargs(cfg).items():
        overrides.append(f"+reward.custom_reward_function.reward_kwargs.{key}={hydra_value(value)}")
    if cfg.model.native_thinking:
        thinking = hydra_value(cfg.template.thinking)
        overrides.append(f"+data.apply_chat_template_kwargs.enable_thinking={thinking}")
    for key, value in job_env(cfg, inputs).items():
        overrides.append(f"++ray_kwargs.ray_init.runtime_env.env_vars.{key}={hydra_value(value)}")
    if d.name != "cpu":  # the CPU extension sets its own (sdpa, no remove-padding)
        overrides.extend(attention_overrides(d.attention, "actor_rollout_ref.model"))
    if d.name == "cpu" or d.rollout == "hf":
        from rmsweep.verl_cpu import cpu_overrides

        overrides.extend(cpu_overrides(device=d.name, private_ray=not joins_local_head(cfg)))
    return overrides


def attention_overrides(attention: str, model_key: str) -> list[str]:
    """The actor's attention kernels: veRL's default, flash-attention 2 (the flash-attn
    package on every node), or PyTorch's sdpa (no extra package). veRL's remove-padding path
    runs on flash-attention's varlen kernels: off with sdpa. veRL's default needs no override."""
    if attention == "flash_attention_2":
        return []
    return [
        f"++{model_key}.override_config.attn_implementation={attention}",
        f"{model_key}.use_remove_padding=False",
    ]


def joins_local_head(cfg: DictConfig) -> bool:
    """A CPU job on the local head that its launcher starts (``cluster.address`` null) runs its
    veRL on that head's Ray, which the launcher sizes for it (``rmsweep.run.make_launcher``);
    on any other cluster it starts a private Ray, with the logical resources it needs."""
    return cfg.device.name == "cpu" and cfg.cluster.address is None


MAIN_PPO = "verl.trainer.main_ppo"
ACTOR_HF_SUBDIR = "actor/huggingface"  # where main_ppo saves the actor, in global_step_<N>/


@dataclass(frozen=True)
class JobSpec:
    """What a run's job does (read by ``rmsweep.job``, its entry point): veRL's trainer
    module and its overrides, where the model goes, what judges it."""

    trainer_args: list[str]
    verl_checkpoint_dir: str
    model_dir: str
    artifact_max_mb: float
    eval: dict[str, Any] | None = field(default=None)  # evaluation.EvalSettings as a dict
    trainer_module: str = MAIN_PPO  # or rmsweep.sft.SFT_MODULE
    hf_subdir: str = ACTOR_HF_SUBDIR  # where the trainer saves the model, in global_step_<N>/
    # A stage run first, in this job (rmsweep.stages): its run_id, spec (a JobSpec as a dict)
    # and env (added to the job's for its trainer).
    before: dict[str, Any] | None = field(default=None)
    # Inputs the job downloads from its run before anything else (rmsweep.shipping.Parcel
    # as dicts): set when the cluster cannot see this machine's disk.
    fetch: list[dict[str, Any]] | None = field(default=None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def job_spec(cfg: DictConfig, inputs: JobInputs) -> JobSpec:
    """What the run's job does: veRL's overrides, where the model goes, what judges it."""
    from rmsweep.evaluation._settings import EvalSettings

    settings = EvalSettings.from_config(cfg)
    return JobSpec(
        trainer_args=main_ppo_overrides(cfg, inputs),
        verl_checkpoint_dir=str(inputs.checkpoint_dir / VERL_CHECKPOINT_SUBDIR),
        model_dir=str(inputs.checkpoint_dir / MODEL_SUBDIR),
        artifact_max_mb=float(cfg.checkpoint.artifact_max_mb),
        eval=settings.to_dict() if settings.benches else None,
        trainer_module=job_module(cfg),
    )


def job_module(cfg: DictConfig) -> str:
    """veRL's ``main_ppo``; on ``device=cpu`` the extension's, which runs veRL's task runner
    in the driver instead of in one more process (``rmsweep.verl_cpu.main_ppo``)."""
    if cfg.device.name == "cpu":
        from rmsweep.verl_cpu import MAIN_PPO_MODULE

        return MAIN_PPO_MODULE
    return MAIN_PPO


def entrypoint(spec: JobSpec, *, python: str | None = None) -> str:
    """The shell command a Ray job runs."""
    return shlex.join([python or sys.executable, "-m", JOB_MODULE, spec.to_json()])
