"""LPIPS through the real loading path (random AlexNet written where torchvision's hub loader
looks, RDPBENCH_OFFLINE=1) and parity with a direct `lpips` call on the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import uniform_filter

from rdpbench.metrics import lpips_metric  # noqa: F401  (registration)
from rdpbench.metrics.base import create_metric, metric_direction
from rdpbench.metrics.random_weights import random_weight_cache

@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    with random_weight_cache(tmp_path_factory.mktemp("cache"), hub=("alexnet",)) as root:
        yield root


@pytest.fixture(scope="module")
def pair(kodak_root: Path) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(Image.open(kodak_root / "kodak" / "kodim23.png").convert("RGB"))[100:228, 200:392]
    noisy = uniform_filter(ref.astype(float), size=(5, 5, 1)) + np.random.default_rng(0).normal(0, 8, ref.shape)
    return ref, np.clip(noisy, 0, 255).astype(np.uint8)


def test_lpips_equals_lpips_package(cache, pair) -> None:
    import lpips

    ref, rec = pair
    ours = create_metric("lpips", device="cpu")
    direct = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()
    to_pm1 = lambda a: torch.tensor(a, dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1  # noqa: E731
    with torch.no_grad():
        expected = float(direct(to_pm1(ref), to_pm1(rec)))
    assert ours(ref, rec) == pytest.approx(expected, abs=1e-5)
    assert ours(ref, rec) > 1e-3
    assert ours(ref, ref) == pytest.approx(0.0, abs=1e-7)
    assert "LPIPS v0.1 AlexNet (lpips 0.1.4" in ours.implementation
    assert metric_direction("lpips") is False


def test_tiling_is_area_weighted_mean_of_tiles(cache, pair) -> None:
    ref, rec = pair
    full, tiled = create_metric("lpips", device="cpu"), create_metric("lpips", device="cpu", tile=96)
    boxes = [(0, 0, 96, 96), (0, 96, 96, 96), (96, 0, 32, 96), (96, 96, 32, 96)]  # 128x192 in <=96 px tiles
    expected = sum(full(ref[t:t + h, l:l + w], rec[t:t + h, l:l + w]) * h * w for t, l, h, w in boxes)
    assert tiled(ref, rec) == pytest.approx(expected / (128 * 192), abs=1e-6)
    assert "tiled 96px" in tiled.implementation and "full resolution" in full.implementation


def test_bad_inputs_are_clear_errors(cache, pair) -> None:
    ref, rec = pair
    metric = create_metric("lpips", device="cpu")
    with pytest.raises(ValueError, match="shape mismatch"):
        metric(ref, rec[:64])
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        metric(ref.astype(np.float32), rec)
