"""PSNR and MS-SSIM on 8-bit RGB: weight-free, torch-free, so a classical-only install has them.

MS-SSIM is a float64 NumPy/SciPy port of `pytorch_msssim.ms_ssim` (v1.0.0; the
implementation CompressAI reports with): 11-tap Gaussian window sigma 1.5, 'valid'
filtering, 5 scales with the Wang et al. weights, 2x2 average pooling with zero
padding on odd sizes, ReLU on cs/ssim, mean over RGB channels. It is written here
only so that MS-SSIM needs no torch; tests check parity with pytorch_msssim.
"""

from __future__ import annotations

from typing import Callable, ClassVar

import numpy as np
from scipy.ndimage import correlate1d

from rdpbench.metrics.base import Metric, register_metric

MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
WIN_SIZE, WIN_SIGMA, K1, K2, DATA_RANGE = 11, 1.5, 0.01, 0.03, 255.0


def _check_pair(reference: np.ndarray, reconstruction: np.ndarray) -> None:
    if reference.shape != reconstruction.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape}, reconstruction {reconstruction.shape}")


def mse(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    _check_pair(reference, reconstruction)
    diff = reference.astype(np.float64) - reconstruction.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    """10 log10(255^2 / MSE), MSE over all pixels and the three channels; inf when identical."""
    error = mse(reference, reconstruction)
    return float("inf") if error == 0 else float(10 * np.log10(DATA_RANGE**2 / error))


def _gaussian_window() -> np.ndarray:
    coords = np.arange(WIN_SIZE, dtype=np.float64) - WIN_SIZE // 2
    g = np.exp(-(coords**2) / (2 * WIN_SIGMA**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation over axes 0 and 1 of an HxWxC array."""
    half = WIN_SIZE // 2
    y = correlate1d(x, win, axis=0, mode="constant")[half:-half]
    return correlate1d(y, win, axis=1, mode="constant")[:, half:-half]


def _ssim_cs(x: np.ndarray, y: np.ndarray, win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_x, mu_y = _filter_valid(x, win), _filter_valid(y, win)
    sxx = _filter_valid(x * x, win) - mu_x**2
    syy = _filter_valid(y * y, win) - mu_y**2
    sxy = _filter_valid(x * y, win) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.mean(axis=(0, 1)), cs_map.mean(axis=(0, 1))


def _avg_pool2(x: np.ndarray) -> np.ndarray:
    """torch avg_pool2d(kernel 2, padding = size % 2, count_include_pad=True) on HxWxC."""
    ph, pw = x.shape[0] % 2, x.shape[1] % 2
    x = np.pad(x, ((ph, ph), (pw, pw), (0, 0)))
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    _check_pair(reference, reconstruction)
    if min(reference.shape[:2]) <= (WIN_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1):
        raise ValueError(f"MS-SSIM needs both sides > 160 px, image is {reference.shape[1]}x{reference.shape[0]}")
    x, y = reference.astype(np.float64), reconstruction.astype(np.float64)
    win = _gaussian_window()
    factors = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        ssim_c, cs_c = _ssim_cs(x, y, win)
        if level < len(MS_SSIM_WEIGHTS) - 1:
            factors.append(np.maximum(cs_c, 0))
            x, y = _avg_pool2(x), _avg_pool2(y)
    factors.append(np.maximum(ssim_c, 0))
    per_channel = np.prod(np.stack(factors) ** MS_SSIM_WEIGHTS[:, None], axis=0)
    return float(per_channel.mean())


class _ArrayFunctionMetric(Metric):
    """A metric that is a plain function of the two arrays."""

    function: ClassVar[Callable[[np.ndarray, np.ndarray], float]]

    def __call__(self, reference: np.ndarray, reconstruction: np.ndarray) -> float:
        return type(self).function(reference, reconstruction)


@register_metric("psnr")
class PSNR(_ArrayFunctionMetric):
    name, higher_is_better, function = "psnr", True, psnr
    unit = "dB"
    implementation = "PSNR RGB 8-bit, MSE over all channels, float64 (rdpbench)"


@register_metric("ms_ssim")
class MSSSIM(_ArrayFunctionMetric):
    name, higher_is_better, function = "ms_ssim", True, ms_ssim
    implementation = "MS-SSIM RGB linear, pytorch_msssim-1.0.0-compatible float64 port (rdpbench)"
