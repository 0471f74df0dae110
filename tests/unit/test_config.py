"""configs/ + overrides -> resolved config: defaults, validation errors, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmsweep.config import compose, config_dir, load_resolved, to_yaml
from rmsweep.errors import ConfigError


def test_defaults_are_the_embedded_cpu_setup(workdir: Path) -> None:
    cfg = compose([])
    assert cfg.device.name == "cpu" and cfg.device.rollout == "hf"
    assert cfg.model.name == "tiny" and cfg.data.source == "synthetic"
    assert cfg.cluster.name == "local" and cfg.cluster.address is None
    assert cfg.workdir == str(workdir.resolve())
    assert cfg.tracking.uri == f"sqlite:///{workdir.resolve()}/mlflow.db"


def test_group_and_key_overrides_apply(workdir: Path) -> None:
    cfg = compose(["reward=exponential", "reward.k=2.5", "trainer.lr=5e-4", "seed=7"])
    assert (cfg.reward.shape, cfg.reward.k, cfg.trainer.lr, cfg.seed) == (
        "exponential",
        2.5,
        5e-4,
        7,
    )


def test_env_tracking_uri_wins(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://u@h:5432/db")
    assert compose([]).tracking.uri == "postgresql://u@h:5432/db"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.lrr=1"], r"Could not override 'trainer\.lrr'"),
        (["+trainer.lrr=1"], r"trainer\.lrr: Key 'lrr' not in"),
        (["trainer.lr=abc"], r"trainer\.lr: Value 'abc'"),
        (["reward=cubic"], r"Could not find 'reward/cubic'.*exponential"),
        (["reward.shape=cubic"], r"reward\.shape='cubic' is not one of"),
        (["trainer.lr=-1"], r"trainer\.lr=-1\.0 must be > 0"),
        (["cluster=ray"], r"cluster=ray needs cluster\.address"),
        (["trainer.ppo_mini_batch_size=64"], r"ppo_mini_batch_size=64 must be <="),
        (["trainer.ppo_mini_batch_size=24"], r"must be a multiple of"),
        (
            ["trainer.rollout_n=3"],
            r"micro_batch_size_per_gpu=64 must divide ppo_mini_batch_size\*rollout_n=96",
        ),
        (["device.rollout=vllm"], r"device\.rollout='vllm' needs a GPU"),
        (["device.threads=0"], r"device\.threads=0 must be >= 1"),
        (["device.threads=two"], r"device\.threads: Value 'two'"),
        (["template=pairwise_verdict"], r"data\.task='pointwise' does not match"),
        (["seed"], r"Error parsing override 'seed'"),
    ],
)
def test_bad_overrides_fail_in_one_line(workdir: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        compose(overrides)
    assert "\n" not in str(err.value)


def test_resolved_yaml_round_trips(workdir: Path) -> None:
    cfg = compose(["reward=linear"])
    again = load_resolved(to_yaml(cfg))
    assert again == cfg


def test_threads_reach_the_job_and_old_records_keep_rays_default(workdir: Path) -> None:
    from rmsweep import verl

    inputs = verl.JobInputs(
        Path("t.parquet"), Path("v.parquet"), "m", "run", "sqlite:///x.db", Path("ckpt")
    )
    assert verl.job_env(compose(), inputs)["OMP_NUM_THREADS"] == "2"
    assert verl.job_env(compose(["device.threads=3"]), inputs)["OMP_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in verl.job_env(compose(["device.threads=null"]), inputs)
    recorded = to_yaml(compose()).replace("  threads: 2\n", "")
    assert "threads:" not in recorded  # a run recorded before the key existed
    assert load_resolved(recorded).device.threads is None


def test_every_config_file_opens_with_a_purpose_and_a_command() -> None:
    for path in sorted(config_dir().rglob("*.yaml")):
        head = path.read_text().splitlines()[:6]
        assert head and head[0].startswith("# "), f"{path}: no purpose line"
        assert any("rmsweep " in line or "mlflow ui" in line for line in head), (
            f"{path}: no command"
        )


def test_every_option_of_every_group_composes(workdir: Path) -> None:
    for group in sorted(p for p in config_dir().iterdir() if p.is_dir()):
        for option in sorted(group.glob("*.yaml")):
            extra = _compatible_extras(group.name, option.stem)
            try:
                compose([f"{group.name}={option.stem}", *extra])
            except ConfigError as err:
                pytest.fail(f"{group.name}={option.stem}: {err}")


def _compatible_extras(group: str, option: str) -> list[str]:
    """Overrides that make one option composable on its own (e.g. a pairwise template)."""
    if "pairwise" in option and group in ("template", "data", "reward"):
        return [
            f"{g}={option if g == group else d}"
            for g, d in (("data", "ultrafeedback_pairwise"), ("template", "pairwise_verdict"))
            if g != group
        ]
    if group == "device" and option == "gpu":
        return []
    if group == "cluster" and option == "ray":
        return ["cluster.address=http://127.0.0.1:8265"]
    return []
