"""The GPU environment resolves without a GPU: requirements/gpu.in within the lock on Python 3.11
and 3.12 (Linux x86_64), and the lock is current (scripts/check_gpu_lock.sh). Needs PyPI: run by
`make gpu-check` (and .ci/run), not by `make test`."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from rmsweep.config import REPO_ROOT

pytestmark = pytest.mark.network


def _pypi_answers() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/uv/", timeout=10).close()
    except OSError:
        return False
    return True


def test_the_gpu_environment_resolves_and_its_lock_is_current() -> None:
    if not _pypi_answers():
        pytest.skip("PyPI does not answer from here: the resolution needs its metadata")
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "check_gpu_lock.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for version in ("3.11", "3.12"):
        assert f"gpu-check: Python {version} resolves within requirements/gpu.txt" in done.stdout
    assert "requirements/gpu.txt is current" in done.stdout


def test_the_lock_pins_verls_torch_vllm_and_flash_attn() -> None:
    pins = dict(
        line.split("==")
        for line in (REPO_ROOT / "requirements" / "gpu.txt").read_text().splitlines()
        if "==" in line and not line.startswith(("#", " "))
    )
    assert pins["verl"] == "0.9.1"
    assert pins["torch"] == "2.11.0"  # verl[vllm]==0.9.1's pin
    assert pins["vllm"] == "0.24.0"
    assert pins["flash-attn"] == "2.8.3"
