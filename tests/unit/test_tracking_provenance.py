"""Code digest, git state and package versions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rmsweep.tracking import code_digest, frozen_requirements, git_state, package_versions


def _tree(root: Path) -> list[Path]:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("A = 1\n")
    (root / "pkg" / "sub" / "b.yaml").write_text("b: 2\n")
    (root / "configs").mkdir()
    (root / "configs" / "c.yaml").write_text("c: 3\n")
    return [root / "pkg", root / "configs"]


def test_code_digest_is_location_independent_and_content_sensitive(tmp_path: Path) -> None:
    first = code_digest(_tree(tmp_path / "one"))
    assert first == code_digest(_tree(tmp_path / "two"))
    (tmp_path / "two" / "pkg" / "sub" / "b.yaml").write_text("b: 20\n")
    assert code_digest([tmp_path / "two" / "pkg", tmp_path / "two" / "configs"]) != first


def test_code_digest_sees_renames_and_ignores_bytecode(tmp_path: Path) -> None:
    dirs = _tree(tmp_path)
    base = code_digest(dirs)
    cache = tmp_path / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "a.cpython-311.pyc").write_bytes(b"\0\1")
    (tmp_path / "pkg" / "stale.pyc").write_bytes(b"\0")
    assert code_digest(dirs) == base
    (tmp_path / "pkg" / "a.py").rename(tmp_path / "pkg" / "renamed.py")
    assert code_digest(dirs) != base


def test_code_digest_of_the_project_is_stable() -> None:
    assert code_digest() == code_digest()
    assert len(code_digest()) == 64


def test_git_state_outside_git(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (None, "")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def test_git_state_reports_head_diff_and_untracked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "f.txt").write_text("one\n")
    _git(repo, "add", "f.txt")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = _git(repo, "rev-parse", "HEAD").strip()
    assert git_state(repo) == (head, "")
    (repo / "f.txt").write_text("two\n")
    (repo / "new.txt").write_text("new\n")
    sha, diff = git_state(repo)
    assert sha == head
    assert "-one" in diff and "+two" in diff
    assert "# untracked: new.txt" in diff


def test_package_versions_cover_the_stack() -> None:
    versions = package_versions()
    for name in ("python", "rmsweep", "mlflow", "ray", "optuna", "torch", "verl", "hydra-core"):
        assert versions.get(name), name
    freeze = frozen_requirements().splitlines()
    assert f"mlflow=={versions['mlflow']}" in freeze
    assert freeze == sorted(freeze, key=str.lower)


@pytest.mark.parametrize("missing", ["no-such-package-xyz"])
def test_package_versions_skip_missing(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from rmsweep.tracking import _provenance

    monkeypatch.setattr(_provenance, "RELEVANT_PACKAGES", ("mlflow", missing))
    assert set(package_versions()) == {"python", "mlflow"}
