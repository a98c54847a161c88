"""What every result row carries so a number can be traced: config hash, versions, git commit."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = ("rdpbench", "numpy", "scipy", "pillow", "pillow-heif", "imagecodecs", "constriction", "torch",
                    "torchvision", "compressai", "lpips", "DISTS-pytorch", "open-clip-torch", "torch-fidelity", "piq",
                    "diffusers", "transformers", "hydra-core", "pandas")


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a codec's bitstream-relevant config."""
    canonical = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the rdpbench checkout, '+dirty' if it has uncommitted changes; 'unknown' outside git."""
    repo = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")

