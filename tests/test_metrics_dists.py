"""DISTS and LPIPS-VGG through the real loading path (random VGG16 where torchvision's hub
loader looks) and parity with direct DISTS_pytorch / lpips calls on the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdpbench.metrics import dists, lpips_metric  # noqa: F401  (registration)
from rdpbench.metrics.base import create_metric
from rdpbench.metrics.random_weights import random_weight_cache

@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    with random_weight_cache(tmp_path_factory.mktemp("cache"), hub=("vgg16",)) as root:
        yield root


@pytest.fixture(scope="module")
def pair(kodak_root: Path) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(Image.open(kodak_root / "kodak" / "kodim05.png").convert("RGB"))[200:328, 300:460]
    noisy = ref.astype(float) + np.random.default_rng(1).normal(0, 12, ref.shape)
    return ref, np.clip(noisy, 0, 255).astype(np.uint8)


def unit(image: np.ndarray) -> torch.Tensor:
    return torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None] / 255


def test_dists_equals_dists_pytorch(cache, pair) -> None:
    from DISTS_pytorch import DISTS

    ref, rec = pair
    ours = create_metric("dists", device="cpu")
    with torch.no_grad():
        expected = float(DISTS()(unit(ref), unit(rec)))
    assert ours(ref, rec) == pytest.approx(expected, abs=1e-5)
    assert ours(ref, rec) > 1e-3
    assert ours(ref, ref) == pytest.approx(0.0, abs=1e-5)
    assert "DISTS_pytorch 0.1" in ours.implementation


def test_lpips_vgg_equals_lpips_package(cache, pair) -> None:
    import lpips

    ref, rec = pair
    ours = create_metric("lpips", net="vgg", device="cpu")
    with torch.no_grad():
        expected = float(lpips.LPIPS(net="vgg", verbose=False).eval()(unit(ref), unit(rec), normalize=True))
    assert ours(ref, rec) == pytest.approx(expected, abs=1e-5)
    assert ours(ref, ref) == pytest.approx(0.0, abs=1e-7)
    assert "VGG16" in ours.implementation
