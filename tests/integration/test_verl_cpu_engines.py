"""veRL finds the cpu engines in a CPU run's processes (a fresh interpreter each: veRL's engine
registry is per process), and veRL's driver leaves their import until it is asked for it."""

from __future__ import annotations

import os
import subprocess
import sys

from rmsweep.verl_cpu import cpu_env

FSDP = "verl.workers.engine.fsdp.transformer_impl"


def _run(probe: str) -> list[str]:
    env = {**os.environ, **cpu_env("cpu")}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split("\n")


def test_a_process_that_imports_verl_finds_the_cpu_engines() -> None:
    lines = _run(
        "import verl\n"  # as the trainer's worker and veRL's SFT trainer do
        "from verl.workers.engine import EngineRegistry\n"
        "for kind in ('language_model', 'value_model'):\n"
        "    cls = EngineRegistry.get_engine_cls(kind, 'fsdp2')\n"
        "    print(cls.__module__, cls.__name__)\n"
    )
    assert lines[:2] == [
        "rmsweep.verl_cpu.engine CPUFSDPEngineWithLMHead",
        "rmsweep.verl_cpu.engine CPUFSDPEngineWithValueHead",
    ]


def test_the_driver_imports_no_engine_until_a_later_register() -> None:
    lines = _run(
        "import sys\n"
        "from rmsweep.verl_cpu import register\n"
        "register(engines=False)\n"  # as veRL's driver starts (rmsweep.verl_cpu.main_ppo)
        f"print({FSDP!r} in sys.modules)\n"
        "register()\n"
        "from verl.workers.engine import EngineRegistry\n"
        "print(EngineRegistry.get_engine_cls('language_model', 'fsdp2').__name__)\n"
    )
    assert lines[:2] == ["False", "CPUFSDPEngineWithLMHead"]
