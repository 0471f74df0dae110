"""Where a run's code came from: a content digest, the git state, the installed packages."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import rmsweep

# Packages whose versions decide what a run does; shown as tags, the full list is an artifact.
RELEVANT_PACKAGES = (
    "rmsweep", "verl", "torch", "ray", "mlflow", "optuna", "transformers", "hydra-core",
    "omegaconf", "accelerate", "datasets", "pyarrow", "numpy", "vllm", "flash-attn",
    "TransferQueue",
)  # fmt: skip
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}
_GIT_TIMEOUT_S = 20


def package_root() -> Path:
    """The folder holding ``rmsweep/`` (``platform/`` in a checkout)."""
    return Path(rmsweep.__file__).resolve().parent.parent


def code_dirs() -> list[Path]:
    """The folders whose contents ``code_digest`` covers: rmsweep, reward_fns, configs."""
    import reward_fns

    dirs = [Path(rmsweep.__file__).resolve().parent, Path(reward_fns.__file__).resolve().parent]
    configs = package_root().parent / "configs"
    if configs.is_dir():
        dirs.append(configs)
    return dirs


def code_digest(dirs: list[Path] | None = None) -> str:
    """sha256 over the files of the code folders, independent of where they live.

    Each file contributes its path relative to its folder's parent (``rmsweep/launch/...``,
    ``configs/...``) and its content, in sorted order; ``__pycache__`` and bytecode are
    ignored. Works without git.

    Args:
        dirs: the folders (``code_dirs()`` when None).

    Returns:
        A 64-character hex digest.
    """
    entries: list[tuple[str, Path]] = []
    for base in dirs if dirs is not None else code_dirs():
        for path in base.rglob("*"):
            rel = path.relative_to(base.parent)
            if path.is_file() and not _SKIP_DIRS & set(rel.parts):
                if path.suffix not in _SKIP_SUFFIXES:
                    entries.append((rel.as_posix(), path))
    outer = hashlib.sha256()
    for name, path in sorted(entries):
        try:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:  # vanished while we walked (an editor's temp file)
            continue
        outer.update(f"{name}\0{content}\n".encode())
    return outer.hexdigest()


def git_state(repo: Path | None = None) -> tuple[str | None, str]:
    """The HEAD commit and uncommitted diff of the repository rmsweep lives in.

    Read-only (``git --no-optional-locks``); never raises.

    Args:
        repo: any folder inside the repository (rmsweep's checkout when None).

    Returns:
        ``(sha, diff)``: ``sha`` is None outside git (or without git); ``diff`` is
        ``git diff HEAD`` followed by the list of untracked files, "" when clean.
    """
    where = repo if repo is not None else package_root()
    sha = _git(where, "rev-parse", "HEAD")
    if sha is None:
        return None, ""
    diff = _git(where, "diff", "HEAD", "--no-color", "--no-ext-diff") or ""
    untracked = _git(where, "ls-files", "--others", "--exclude-standard") or ""
    if untracked.strip():
        listing = "".join(f"# untracked: {line}\n" for line in untracked.splitlines())
        diff = f"{diff}\n{listing}" if diff else listing
    return sha.strip(), diff


def _git(where: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(where), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def package_versions() -> dict[str, str]:
    """Versions of the packages in ``RELEVANT_PACKAGES`` that are installed, and Python's."""
    versions = {"python": platform.python_version()}
    for name in RELEVANT_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def frozen_requirements() -> str:
    """Every installed distribution as ``name==version`` lines, sorted (like ``pip freeze``)."""
    lines = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            lines.add(f"{name}=={dist.version}")
    return "".join(f"{line}\n" for line in sorted(lines, key=str.lower))
