"""What an evaluation judges with and on: the settings (from a run's config or the CLI) and the
model (a Hugging Face folder or a model-free baseline)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rmsweep.errors import EvalError

BASELINE_PREFIX = "baseline:"


@dataclass(frozen=True)
class EvalSettings:
    """Benchmarks (name -> path), the judging template and how to generate.

    ``template`` is a validated template mapping (``templates.load_template``); its ``task``
    decides pointwise (score each response) or pairwise (judge each pair in both orders).
    """

    benches: dict[str, str]
    template: dict[str, Any]
    limit: int | None = None
    batch_size: int = 32
    max_new_tokens: int = 512
    native_thinking: bool = False
    scale_min: int = 0
    scale_max: int = 4
    seed: int = 0
    device: str = "cpu"
    rollout: str = "hf"

    @classmethod
    def from_config(
        cls, cfg: Any, *, benches: dict[str, str] | None = None, **changes: Any
    ) -> EvalSettings:
        """Settings for judging a model trained with ``cfg`` (its template, scale, device)."""
        from omegaconf import OmegaConf

        from rmsweep.schema import BENCHMARKS
        from rmsweep.templates import validate_template

        ev = cfg.eval
        chosen = (
            benches
            if benches is not None
            else {name: ev[name] for name in BENCHMARKS if ev[name] is not None}
        )
        values: dict[str, Any] = {
            "benches": {k: str(v) for k, v in chosen.items()},
            "template": validate_template(OmegaConf.to_container(cfg.template, resolve=True)),
            "limit": ev.limit,
            "batch_size": ev.batch_size,
            "max_new_tokens": ev.max_new_tokens or cfg.trainer.max_response_length,
            "native_thinking": bool(cfg.model.native_thinking),
            "scale_min": cfg.reward.scale_min,
            "scale_max": cfg.reward.scale_max,
            "seed": cfg.seed,
            "device": cfg.device.name,
            "rollout": cfg.device.rollout,
        }
        values.update({k: v for k, v in changes.items() if v is not None})
        return cls(**values)

    @property
    def task(self) -> str:
        return str(self.template["task"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalSettings:
        return cls(**data)


@dataclass(frozen=True)
class ModelSpec:
    """The judge: a Hugging Face model folder, or ``baseline:length`` / ``baseline:random``."""

    label: str
    path: Path | None = None
    baseline: str | None = None

    @classmethod
    def from_path(cls, path: Path | str) -> ModelSpec:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise EvalError(f"{path}: not a Hugging Face model folder (no config.json)")
        return cls(label=str(path), path=path)

    @classmethod
    def from_baseline(cls, spec: str) -> ModelSpec:
        from rmsweep.evaluation._baselines import BASELINES

        name = spec.removeprefix(BASELINE_PREFIX)
        if name not in BASELINES:
            known = ", ".join(BASELINE_PREFIX + b for b in BASELINES)
            raise EvalError(f"--model {spec}: unknown baseline (known: {known})")
        return cls(label=BASELINE_PREFIX + name, baseline=name)
