"""PSNR and MS-SSIM on 8-bit RGB, weight-free.

MS-SSIM has two implementations and the config names the one used
(`metrics.options.ms_ssim.implementation`; nothing is picked by what is installed):

- `pytorch_msssim`: `pytorch_msssim.ms_ssim` (v1.0.0, the implementation CompressAI
  reports with), data_range=255, on float64 CPU tensors. CompressAI calls it on float32,
  whose rounding moves MS-SSIM by up to 4.6e-5 on Kodak JPEG; float64 is the exact value.
- `numpy`: a NumPy port of it, so that a classical-only install (no torch) has MS-SSIM:
  its float32 11-tap Gaussian window (sigma 1.5), 'valid' filtering, 5 scales with the
  Wang et al. weights, 2x2 average pooling with zero padding on odd sizes, ReLU on cs/ssim,
  mean over RGB channels. Within 4e-8 of the float64 `pytorch_msssim` on all Kodak JPEG
  points (q = 5..95); tests hold the two within 1e-5.

The port is written by hand because no torch-free library computes this exact variant
(scikit-image's and piq's MS-SSIM differ in window, padding or pooling). It is also the
faster one on CPU: the reference-side statistics are computed once per image (`bind`)
and shared by every operating point; per reconstruction only small float32 maps are
filtered (see _Level), as banded matrix products in BLAS into reused buffers
(scipy.ndimage.correlate1d on the same maps is ~4x slower).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from typing import Any, Callable, ClassVar

import numpy as np

from rdpbench.errors import ConfigError
from rdpbench.metrics.base import Metric, Scorer, register_metric
from rdpbench.metrics.torch_image import library_version, require_module

MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
WIN_SIZE, K1, K2, DATA_RANGE = 11, 0.01, 0.03, 255.0
C1, C2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
MIN_SIDE = (WIN_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1)  # 160: pytorch_msssim's limit
# pytorch_msssim's window, _fspecial_gauss_1d(11, 1.5): computed by torch in float32, whose taps
# are an ulp off any NumPy computation and do not sum to 1; pinned bit for bit, since MS-SSIM
# moves by ~1e-6 with them (a test compares it with pytorch_msssim's).
WINDOW = np.array([981912248, 1006173953, 1024685452, 1038088319, 1046093343, 1049113264, 1046093343, 1038088319,
                   1024685452, 1006173953, 981912248], np.uint32).view(np.float32)
OFFSET = 128.0  # the reconstruction side works with x - 128 and d = y - x: small numbers, exact in float32
BLOCK = 16  # outputs per banded product: ~11/26 of the multiplies are useful, BLAS still wins


def _check_pair(reference: np.ndarray, reconstruction: np.ndarray) -> None:
    if reference.shape != reconstruction.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape}, reconstruction {reconstruction.shape}")


def mse(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    _check_pair(reference, reconstruction)
    diff = np.subtract(reference, reconstruction, dtype=np.int16).ravel()
    return int(np.einsum("i,i->", diff, diff, dtype=np.int64)) / diff.size  # exact integer sum of squares


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    """10 log10(255^2 / MSE), MSE over all pixels and the three channels; inf when identical."""
    error = mse(reference, reconstruction)
    return float("inf") if error == 0 else float(10 * np.log10(DATA_RANGE**2 / error))


@lru_cache(maxsize=2)
def _band(dtype: type) -> np.ndarray:
    """(BLOCK + 10) x BLOCK matrix whose column j is the window at rows j..j+10."""
    band = np.zeros((BLOCK + WIN_SIZE - 1, BLOCK), dtype)
    for j in range(BLOCK):
        band[j:j + WIN_SIZE, j] = WINDOW
    return band


def _filter_valid(maps: np.ndarray, across: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Separable 'valid' correlation with WINDOW of C-contiguous maps (N, H, W) -> (N, H-10, W-10).

    Each pass is a loop of banded matrix products over blocks of BLOCK outputs (BLAS), in the
    maps' dtype; `across` (N, H, W-10) and `out` are reusable buffers."""
    band = _band(maps.dtype.type)
    n_maps, height, width = maps.shape
    out_h, out_w = height - WIN_SIZE + 1, width - WIN_SIZE + 1
    across = np.empty((n_maps, height, out_w), maps.dtype) if across is None else across
    out = np.empty((n_maps, out_h, out_w), maps.dtype) if out is None else out
    rows, across_rows = maps.reshape(n_maps * height, width), across.reshape(n_maps * height, out_w)
    for c0 in range(0, out_w, BLOCK):
        n = min(BLOCK, out_w - c0)
        np.matmul(rows[:, c0:c0 + n + WIN_SIZE - 1], band[:n + WIN_SIZE - 1, :n], out=across_rows[:, c0:c0 + n])
    band_t = band.T
    for r0 in range(0, out_h, BLOCK):
        n = min(BLOCK, out_h - r0)
        np.matmul(band_t[:n, :n + WIN_SIZE - 1], across[:, r0:r0 + n + WIN_SIZE - 1], out=out[:, r0:r0 + n])
    return out


def _avg_pool2(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """torch avg_pool2d(kernel 2, padding = size % 2, count_include_pad=True) on CxHxW maps."""
    ph, pw = x.shape[1] % 2, x.shape[2] % 2
    if ph or pw:
        x = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    x = x[:, :h, :w]
    out = np.add(x[:, 0::2, 0::2], x[:, 1::2, 0::2], out=out)
    out += x[:, 0::2, 1::2]
    out += x[:, 1::2, 1::2]
    out *= x.dtype.type(0.25)
    return out


class _Level:
    """One scale of a reference image x, with what every reconstruction y = x + d needs.

    pytorch_msssim's statistics, rewritten exactly (F = the Gaussian filter, linear):
      sigma_xy = sigma_x + s_xd,  sigma_y = sigma_x + 2 s_xd + s_dd,
      s_xd = F((x-128) d) - (F(x) - 128) F(d),  s_dd = F(d^2) - F(d)^2.
    sigma_x comes from a float64 pass once per image; per reconstruction only d, d^2 and
    (x-128) d are filtered, in float32: they are small, so float32 keeps ~1e-7 of MS-SSIM
    where filtering y^2 (up to 65025) directly in float32 loses ~5e-5.
    """

    def __init__(self, x: np.ndarray) -> None:
        channels, height, width = x.shape
        filtered = _filter_valid(np.concatenate([x, x * x]))
        mu, sigma = filtered[:channels], filtered[channels:] - filtered[:channels] ** 2
        self.x_offset = (x - OFFSET).astype(np.float32)
        self.mu_offset = (mu - OFFSET).astype(np.float32)
        self.two_sigma_c2 = (2 * sigma + C2).astype(np.float32)
        self.mu_sq_c1 = (mu * mu + C1).astype(np.float32)  # for the luminance term
        self.mu = mu.astype(np.float32)
        # buffers reused by every reconstruction: d, d^2, (x-128) d and their filtered maps
        self.maps = np.empty((3, channels, height, width), np.float32)
        self.d = self.maps[0]  # the caller puts this scale's d here
        self.across = np.empty((3 * channels, height, width - WIN_SIZE + 1), np.float32)
        self.filtered = np.empty((3, *self.mu.shape), np.float32)
        self.temp = np.empty_like(self.mu)

    def cs_and_ssim(self, with_ssim: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-channel means of the contrast-structure map and (last scale only) of the SSIM map, for self.d."""
        maps, temp = self.maps, self.temp
        np.multiply(maps[0], maps[0], out=maps[1])
        np.multiply(self.x_offset, maps[0], out=maps[2])
        flat = maps.reshape(-1, *maps.shape[2:])
        _filter_valid(flat, self.across, self.filtered.reshape(-1, *self.mu.shape[1:]))
        f_d, f_dd, f_xd = self.filtered
        np.multiply(self.mu_offset, f_d, out=temp)
        f_xd -= temp  # s_xd
        numerator = np.multiply(f_xd, np.float32(2), out=f_xd)
        numerator += self.two_sigma_c2  # 2 sigma_xy + C2
        np.multiply(f_d, f_d, out=temp)
        f_dd -= temp  # s_dd
        f_dd += numerator  # sigma_x + sigma_y + C2
        cs_map = np.divide(numerator, f_dd, out=numerator)
        cs = cs_map.mean(axis=(1, 2), dtype=np.float64)
        if not with_ssim:
            return cs, None
        np.add(self.mu, f_d, out=temp)  # mu_y
        denominator = np.multiply(temp, temp, out=temp)
        denominator += self.mu_sq_c1  # mu_x^2 + mu_y^2 + C1
        np.multiply(f_d, f_d, out=f_d)
        f_d /= denominator
        luminance = np.subtract(np.float32(1), f_d, out=f_d)  # (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
        return cs, (luminance * cs_map).mean(axis=(1, 2), dtype=np.float64)


class _NumpyReference:
    """MS-SSIM of reconstructions against one reference whose pyramid and statistics are kept."""

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = reference
        self.levels = []
        x = np.ascontiguousarray(reference.transpose(2, 0, 1), dtype=np.float64)
        for level in range(len(MS_SSIM_WEIGHTS)):
            self.levels.append(_Level(x))
            if level < len(MS_SSIM_WEIGHTS) - 1:
                x = _avg_pool2(x)

    def __call__(self, reconstruction: np.ndarray) -> float:
        _check_pair(self.reference, reconstruction)
        np.subtract(reconstruction.transpose(2, 0, 1), self.reference.transpose(2, 0, 1), out=self.levels[0].d,
                    dtype=np.float32)
        factors = []
        for index, level in enumerate(self.levels):
            last = index == len(self.levels) - 1
            cs, ssim = level.cs_and_ssim(with_ssim=last)
            factors.append(np.maximum(ssim if last else cs, 0))
            if not last:
                _avg_pool2(level.d, out=self.levels[index + 1].d)
        per_channel = np.prod(np.stack(factors) ** MS_SSIM_WEIGHTS[:, None], axis=0)
        return float(per_channel.mean())


class MsSsimImplementation(ABC):
    """One way of computing the same MS-SSIM; `description` goes into every row's metric_impl."""

    description: ClassVar[str]

    @abstractmethod
    def bind(self, reference: np.ndarray) -> Scorer:
        ...


class NumpyMsSsim(MsSsimImplementation):
    description = ("MS-SSIM RGB linear, rdpbench NumPy port of pytorch_msssim 1.0.0 (float64 reference "
                   "statistics, float32 error maps; parity-tested to 1e-5)")

    def bind(self, reference: np.ndarray) -> Scorer:
        return _NumpyReference(reference)


class PytorchMsSsim(MsSsimImplementation):
    """pytorch_msssim.ms_ssim on CPU float64 tensors in 0..255 (CompressAI's call, without float32 rounding)."""

    def __init__(self) -> None:
        self.torch = require_module("torch", "ms_ssim", "torch")
        self.library = require_module("pytorch_msssim", "ms_ssim", "pytorch-msssim==1.0.0")
        self.description = (f"MS-SSIM RGB linear, pytorch_msssim {library_version('pytorch-msssim')} ms_ssim, "
                            f"torch {self.torch.__version__} CPU float64, data_range=255")

    def _tensor(self, image: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float64))[None]

    def bind(self, reference: np.ndarray) -> Scorer:
        x = self._tensor(reference)

        def score(reconstruction: np.ndarray) -> float:
            _check_pair(reference, reconstruction)
            with self.torch.inference_mode():
                return float(self.library.ms_ssim(x, self._tensor(reconstruction), data_range=DATA_RANGE))

        return score


MS_SSIM_IMPLEMENTATIONS: dict[str, type[MsSsimImplementation]] = {
    "numpy": NumpyMsSsim, "pytorch_msssim": PytorchMsSsim}


def ms_ssim(reference: np.ndarray, reconstruction: np.ndarray) -> float:
    """MS-SSIM with the NumPy port (for scripts that score a single pair)."""
    return MSSSIM("numpy")(reference, reconstruction)


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
class MSSSIM(Metric):
    name, higher_is_better = "ms_ssim", True

    def __init__(self, implementation: str | None = None) -> None:
        if implementation not in MS_SSIM_IMPLEMENTATIONS:
            raise ConfigError(f"metric 'ms_ssim': implementation={implementation!r}; set "
                              f"metrics.options.ms_ssim.implementation to one of {sorted(MS_SSIM_IMPLEMENTATIONS)}")
        self.backend = MS_SSIM_IMPLEMENTATIONS[implementation]()

    @property
    def implementation(self) -> str:
        return self.backend.description

    def bind(self, reference: np.ndarray) -> Scorer:
        if min(reference.shape[:2]) <= MIN_SIDE:
            raise ValueError(f"MS-SSIM needs both sides > {MIN_SIDE} px, image is "
                             f"{reference.shape[1]}x{reference.shape[0]}")
        return self.backend.bind(reference)

    def __call__(self, reference: np.ndarray, reconstruction: np.ndarray) -> float:
        return self.bind(reference)(reconstruction)
