from __future__ import annotations

import numpy as np
import pytest

from rdpbench.metrics import available_metrics, create_metric, metric_direction
from rdpbench.metrics.pixel import ms_ssim, psnr
from rdpbench.errors import ConfigError


def test_psnr_of_a_known_error():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 16  # MSE = 256 / 48
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 * 48 / 256))
    assert psnr(a, a) == float("inf")


def test_ms_ssim_matches_pytorch_msssim(small_image):
    torch = pytest.importorskip("torch")
    from pytorch_msssim import ms_ssim as reference_ms_ssim

    rng = np.random.default_rng(1)
    noisy = np.clip(small_image + rng.normal(0, 12, small_image.shape), 0, 255).astype(np.uint8)[:181, :203]
    clean = small_image[:181, :203]  # odd sizes exercise the padded pooling
    to_tensor = lambda x: torch.from_numpy(x.copy()).permute(2, 0, 1)[None].double()  # noqa: E731
    expected = reference_ms_ssim(to_tensor(clean), to_tensor(noisy), data_range=255).item()
    assert ms_ssim(clean, noisy) == pytest.approx(expected, abs=1e-5)
    assert 0.5 < expected < 0.99


def test_ms_ssim_identity_and_small_images(small_image):
    assert ms_ssim(small_image, small_image) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="160"):
        ms_ssim(small_image[:100], small_image[:100])


def test_registry():
    assert {"psnr", "ms_ssim"} <= set(available_metrics())
    assert metric_direction("psnr") is True
    metric = create_metric("ms_ssim")
    assert "pytorch_msssim" in metric.implementation
    with pytest.raises(ConfigError, match="available"):
        create_metric("psnr-hvs-m")
