"""The exact MMSE denoiser of a stationary Gaussian image model: DiffC without weights.

Model (pixel space, x0 = image scaled to [-1, 1], 3 x H x W):
  x0 = mean + Q^T y,  y_k a stationary Gaussian field per decorrelated colour channel k
  (Q = orthonormal PCA basis of RGB), with power spectrum P_k(f) = A_k / (f0_k^2 + |f|^2)^(alpha_k/2)
  in an orthonormal periodic DFT basis (f in cycles/pixel).
Because Q and the DFT are orthonormal, diffusion noise stays white in (k, f), and the MMSE
estimate is per-frequency Wiener shrinkage:  Y0_hat = sqrt(abar) P / (abar P + 1 - abar) * Y_t.
The few parameters are fitted on the training photos (../shared/datasets/train) by rdpbench.diffusion.fit_gaussian
and shipped as gaussian_params.json. This backend is also the test oracle: for data drawn from
the model the whole DiffC pipeline is analytically tractable (Theis et al. 2022).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.diffusion.base import Denoiser
from rdpbench.diffusion.conditioning import Condition
from rdpbench.diffusion.schedules import log_snr_linear
from rdpbench.errors import ConfigError

DEFAULT_PARAMS = Path(__file__).with_name("gaussian_params.json")


@dataclass(frozen=True)
class GaussianImageModel:
    mean: tuple[float, float, float]
    colour_basis: tuple[tuple[float, ...], ...]  # rows: orthonormal decorrelated directions
    amplitude: tuple[float, float, float]
    f0: tuple[float, float, float]
    alpha: tuple[float, float, float]
    fitted_on: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PARAMS) -> "GaussianImageModel":
        try:
            raw = json.loads(Path(path).read_text())
            model = cls(**{k: (tuple(map(tuple, v)) if k == "colour_basis" else tuple(v) if isinstance(v, list) else v)
                           for k, v in raw.items()})
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"gaussian denoiser: cannot read model parameters {path} ({exc}); refit with "
                              f"`python -m rdpbench.diffusion.fit_gaussian`") from exc
        basis = np.asarray(model.colour_basis)
        if basis.shape != (3, 3) or not np.allclose(basis @ basis.T, np.eye(3), atol=1e-6):
            raise ConfigError(f"gaussian denoiser: {path}: colour_basis must be an orthonormal 3x3 matrix")
        return model

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    def spectrum(self, height: int, width: int, full: bool = False) -> np.ndarray:
        """P_k(f) on the rfft2 grid (3, H, W//2+1), or on the full fft2 grid (the covariance eigenvalues)."""
        fy = np.fft.fftfreq(height)[:, None]
        fx = (np.fft.fftfreq(width) if full else np.fft.rfftfreq(width))[None, :]
        f2 = fx ** 2 + fy ** 2
        return np.stack([a / (f0 ** 2 + f2) ** (al / 2) for a, f0, al in zip(self.amplitude, self.f0, self.alpha)])

    def _basis(self) -> np.ndarray:
        return np.asarray(self.colour_basis, dtype=np.float64)

    def _mean(self) -> np.ndarray:
        return np.asarray(self.mean, dtype=np.float64)[:, None, None]

    def sample(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """One draw x0 (3, H, W) from the model (synthetic data for the oracle test)."""
        white = np.fft.rfft2(rng.standard_normal((3, height, width)), norm="ortho")
        y = np.fft.irfft2(white * np.sqrt(self.spectrum(height, width)), s=(height, width), norm="ortho")
        return np.einsum("kc,khw->chw", self._basis(), y) + self._mean()

    def components(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """x (3, H, W) -> its coefficients in the model's diagonal basis (colour PCA x orthonormal rfft2),
        after removing `scale` times the mean (x_t carries sqrt(abar) of it)."""
        y = np.einsum("kc,chw->khw", self._basis(), x - scale * self._mean())
        return np.fft.rfft2(y, norm="ortho")

    def from_components(self, coefficients: np.ndarray, height: int, width: int) -> np.ndarray:
        y0 = np.fft.irfft2(coefficients, s=(height, width), norm="ortho")
        return np.einsum("kc,khw->chw", self._basis(), y0) + self._mean()

    def wiener_x0(self, x_t: np.ndarray, abar: float) -> np.ndarray:
        a, noise = np.sqrt(abar), 1.0 - abar
        height, width = x_t.shape[1:]
        power = self.spectrum(height, width)
        gain = a * power / (abar * power + noise)
        return self.from_components(gain * self.components(x_t, a), height, width)

    def conditional_x0(self, x_t: np.ndarray, abar: float, base: np.ndarray, gain: np.ndarray,
                       error: np.ndarray) -> np.ndarray:
        """E[x0 | x_t, base] when base = h x0 + e per component (h = `gain`, var(e) = `error`, on the
        rfft2 grid, both in centred coordinates): still per-component Wiener shrinkage, with precision
        1/P + h^2/S + abar/(1-abar) and mean (h B/S + sqrt(abar) Y_t/(1-abar)) / precision."""
        a, noise = np.sqrt(abar), 1.0 - abar
        height, width = x_t.shape[1:]
        power = self.spectrum(height, width)
        precision = 1.0 / power + gain ** 2 / error + abar / noise
        mean = (gain * self.components(base) / error + a * self.components(x_t, a) / noise) / precision
        return self.from_components(mean, height, width)


class GaussianDenoiser(Denoiser):
    """Analytic backend: pixel space, no weights, numpy only."""

    downsample = 1
    # Pixel space has 48x the dimensions of the SD latent: 2^8 candidates per chunk keep an encode at
    # minutes on a CPU; the step range spans ~0.002-0.1 bpp on Kodak.
    codec_defaults = {"num_steps": 24, "t_max": 700, "t_min": 330, "chunk_kl_bits": 6.0, "slack_bits": 2.0,
                      "max_bits": 10, "tile_size": 768, "tile_overlap": 32,
                      "ops": {"steps": [12, 14, 16, 18, 20, 22, 24]}}

    def __init__(self, params: str | None = None, log_snr_max: float = 12.0, log_snr_min: float = -22.0) -> None:
        self.params_path = Path(params) if params else DEFAULT_PARAMS
        self.model = GaussianImageModel.load(self.params_path)
        self.log_snr_range = (float(log_snr_max), float(log_snr_min))
        self._abar = log_snr_linear(log_snr_max, log_snr_min)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return self._abar

    def to_latent(self, image: np.ndarray) -> np.ndarray:
        return np.moveaxis(image.astype(np.float64), -1, 0) / 127.5 - 1.0

    def to_image(self, latent: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((np.moveaxis(latent, 0, -1) + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def predict_x0(self, x_t: np.ndarray, t: int, cond: Condition | None = None) -> np.ndarray:
        """The unconditional Wiener estimate: `cond` is ignored (ConditionalGaussianDenoiser uses it)."""
        return self.model.wiener_x0(x_t, float(self._abar[t]))

    def config(self) -> dict[str, Any]:
        m = self.model
        return {"backend": "gaussian", "mean": m.mean, "colour_basis": m.colour_basis, "amplitude": m.amplitude,
                "f0": m.f0, "alpha": m.alpha, "log_snr_range": self.log_snr_range}
