"""veRL's own code on a composed config: Hydra's composition, veRL's validation and dataclass
conversions, and its refusals turned into one line naming rmsweep's keys."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmsweep.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

# veRL warns this for every GRPO config: GRPO has no critic by design.
_EXPECTED = ("Disabled critic as algorithm.adv_estimator != gae",)

# veRL's names in its messages -> the rmsweep keys that set them (longest names first).
_KEYS = {
    "real_train_batch_size": "trainer.train_batch_size × trainer.rollout_n",
    "minimal possible batch size": "device.gpus_per_node × device.nnodes",
    "ppo_micro_batch_size_per_gpu": "trainer.micro_batch_size_per_gpu",
    "ppo_micro_batch_size": "trainer.micro_batch_size_per_gpu",
    "ppo_mini_batch_size": "trainer.ppo_mini_batch_size",
    "log_prob_micro_batch_size": "trainer.micro_batch_size_per_gpu",
    "micro_batch_size_per_gpu": "trainer.micro_batch_size_per_gpu",
    "train_batch_size": "trainer.train_batch_size",
    "infer_world_size": "device.gpus_per_node × device.nnodes",
    "world_size": "device.gpus_per_node × device.nnodes",
    "n_gpus": "device.gpus_per_node × device.nnodes",
    "temperature": "trainer.temperature",
    "max_token_len": "sft.max_length",
    "lr": "trainer.lr",
}


def validate_grpo(composed: DictConfig) -> list[str]:
    """veRL's checks of a composed ``ppo_trainer`` config (see :func:`_validate_grpo`).

    Returns:
        What veRL printed or warned (less the warnings every GRPO config gets).

    Raises:
        ConfigError: veRL refused it (its message, one line, and the rmsweep keys to change).
    """
    return _validated(lambda: _validate_grpo(composed))


def _validate_grpo(composed: DictConfig) -> None:
    """What veRL runs on this config before and while it builds its workers."""
    from omegaconf import open_dict
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(
        composed,
        use_reference_policy=need_reference_policy(composed),
        use_critic=need_critic(composed),
    )
    arr = composed.actor_rollout_ref
    rollout = _converted(arr.rollout)
    _converted(arr.rollout.checkpoint_engine)
    if need_reference_policy(composed):
        # The worker renames the reference's log-prob keys before it converts them
        # (verl.workers.engine_workers.ActorRolloutRefWorker.init_model).
        ref = copy.deepcopy(arr.ref)
        with open_dict(ref):
            ref.ppo_mini_batch_size = arr.actor.ppo_mini_batch_size
            ref.ppo_micro_batch_size = ref.pop("log_prob_micro_batch_size", None)
            ref.ppo_micro_batch_size_per_gpu = ref.pop("log_prob_micro_batch_size_per_gpu", None)
            ref.use_dynamic_bsz = ref.pop("log_prob_use_dynamic_bsz", False)
            ref.ppo_max_token_len_per_gpu = ref.pop("log_prob_max_token_len_per_gpu", None)
        _converted(ref)
    if need_critic(composed):
        _converted(composed.critic)
    world = composed.trainer.n_gpus_per_node * composed.trainer.nnodes
    infer = (
        rollout.tensor_model_parallel_size
        * rollout.data_parallel_size
        * rollout.pipeline_model_parallel_size
    )
    if world % infer:  # the worker's own assertion, in veRL's words
        raise AssertionError(
            f"rollout world_size: {world} is not divisible by infer_world_size: {infer}"
        )


def _converted(section: DictConfig) -> Any:
    """veRL's dataclass of a config section (its checks run in ``__post_init__``); the same
    section's content is converted once per process."""
    from omegaconf import OmegaConf

    return _convert_json(json.dumps(OmegaConf.to_container(section, resolve=True), sort_keys=True))


@cache
def _convert_json(content: str) -> Any:
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    return omega_conf_to_dataclass(OmegaConf.create(json.loads(content)))


def uses_reference(composed: DictConfig) -> bool:
    from verl.trainer.ppo.utils import need_reference_policy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(need_reference_policy(composed))


def validate_sft(composed: DictConfig) -> list[str]:
    """The conversions veRL's SFT trainer makes before it builds its engine (all but the
    model's, which reads the checkpoint); returns what veRL warned, raises what it refused."""
    return _validated(lambda: _validate_sft(composed))


def _validate_sft(composed: DictConfig) -> None:
    for section in ("engine", "optim", "checkpoint", "profiler"):
        _converted(composed[section])


def _validated(run: Any) -> list[str]:
    """Run a veRL validation; return what it printed or warned, raise what it refused."""
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            run()
    except Exception as err:  # veRL's asserts, ValueErrors and Hydra's instantiation errors
        raise ConfigError(verl_refusal(err)) from None
    lines = [line.strip() for line in printed.getvalue().splitlines()]
    notes = [line for line in lines if line and "checks passed" not in line]
    notes += [str(w.message) for w in caught]
    return [n for n in dict.fromkeys(notes) if not n.startswith(_EXPECTED)]


def verl_refusal(err: BaseException) -> str:
    """veRL's message on one line, with the rmsweep keys that set the values it names."""
    text = " ".join(str(err).split()) or type(err).__name__
    cause = err.__cause__ or err.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {' '.join(str(cause).split())}"
    found: list[str] = []
    rest = text
    for name, key in _KEYS.items():
        if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", rest):
            found.append(key)
            rest = rest.replace(name, "")
    change = f" (change {', '.join(dict.fromkeys(found))})" if found else ""
    return f"veRL rejects this config: {text}{change}"


@cache
def _base(config_name: str) -> DictConfig:
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name=config_name)


def compose_verl(config_name: str, overrides: list[str]) -> DictConfig:
    """veRL's installed ``config_name`` with ``overrides`` applied, as Hydra composes them.

    Raises:
        ConfigError: an override names a key veRL's config does not have (one line).
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser

    composed = copy.deepcopy(_base(config_name))
    parsed = OverridesParser.create().parse_overrides(overrides)
    if any(override.is_sweep_override() or "/" in override.key_or_group for override in parsed):
        raise ConfigError("an override picks a veRL config group: compose it with Hydra")
    try:
        ConfigLoaderImpl._apply_overrides_to_config(parsed, composed)
    except Exception as err:
        raise ConfigError(verl_refusal(err)) from None
    return composed
