"""A run's veRL config checked before any job: composed as the job composes it, validated by
veRL itself, and described (GPUs, rollout, batches, lengths, memory).

veRL validates its config only when a job starts (``validate_config`` in ``main_ppo.main``, the
dataclass conversions in its workers), i.e. after a cluster queue. :func:`check` runs the same
code here, on the overrides the job would get (``rmsweep.verl.main_ppo_overrides``,
``rmsweep.sft.sft_overrides``) composed on veRL's installed config (``ppo_trainer`` or
``sft_trainer_engine``). No run, no job, no file.

Example::

    plans = check(compose(["device=gpu", "model=qwen3_8b", "trainer=grpo_gpu"]))
    plans[-1].rows()  # [("GPUs", "1 per node × 1 node"), ("rollout", "vllm, tensor parallel 1"), …]

Composition: veRL's base config is composed once per process (Hydra: its defaults tree), then
each job's overrides are applied with Hydra's own override code. None of rmsweep's overrides
picks a config group, so this is exactly Hydra's composition (a test compares both), ~4× faster.
"""

from rmsweep.verl_check._memory import parameter_count
from rmsweep.verl_check._plan import JobPlan, check, compose_grpo
from rmsweep.verl_check._verl import compose_verl, validate_grpo, verl_refusal

__all__ = [
    "JobPlan",
    "check",
    "compose_grpo",
    "compose_verl",
    "parameter_count",
    "validate_grpo",
    "verl_refusal",
]
