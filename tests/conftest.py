"""Shared fixtures. Data come from the shared Kodak cache (RDPBENCH_DATA_ROOT or ../shared/datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rdpbench.paths import datasets_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_torch_thread():
    """2 shared cores: oversubscribed torch threads make small models ~4x slower (use via pytestmark)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the network."""
    monkeypatch.setenv("RDPBENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def kodak_root() -> Path:
    root = datasets_dir()
    if not (root / "kodak" / "kodim01.png").exists():
        pytest.fail(f"Kodak cache not found under {root}; set RDPBENCH_DATA_ROOT to a folder holding kodak/")
    return root


@pytest.fixture(scope="session")
def kodak_image(kodak_root: Path) -> np.ndarray:
    from rdpbench.data.images import load_image

    return load_image(kodak_root / "kodak" / "kodim23.png")[0]


@pytest.fixture(scope="session")
def small_image(kodak_image: np.ndarray) -> np.ndarray:
    """A 192x256 natural crop: big enough for MS-SSIM's 161 px minimum, small enough to be quick."""
    return np.ascontiguousarray(kodak_image[100:292, 200:456])
