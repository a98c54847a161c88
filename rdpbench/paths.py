"""Where the shared data lives, resolved from the repository root: never a path of one machine.

`../shared` beside the checkout holds the datasets and published anchors in development
and CI; RDPBENCH_SHARED (the shared folder) or RDPBENCH_DATA_ROOT (its datasets/) override it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("RDPBENCH_SHARED", REPO_ROOT.parent / "shared")).expanduser()


def datasets_dir() -> Path:
    """The data root with one folder per dataset (kodak/, train/, ...)."""
    root = os.environ.get("RDPBENCH_DATA_ROOT")
    return Path(root).expanduser() if root else shared_dir() / "datasets"


def training_photos() -> Path:
    """Training/fitting images only (never an evaluation set)."""
    return datasets_dir() / "train"


def data_label(path: Path) -> str:
    """How a fit or a model card names its data: relative to the data root, never a machine's path."""
    try:
        return Path(path).resolve().relative_to(datasets_dir().resolve()).as_posix()
    except ValueError:
        return Path(path).name


def published_anchors_dir() -> Path:
    """The raw published RD data (papers' files) that `convert-published` reads."""
    return shared_dir() / "anchors" / "published"
