"""The conditional Gaussian oracle: the exact MMSE denoiser given x_t *and* a base reconstruction.

Observation model (METHODS.md section 2): in the basis where the Gaussian image model is
diagonal (colour PCA x orthonormal DFT, centred on the model mean), a base codec's
reconstruction is b = h x + e per component, e ~ N(0, S) independent of x, with h and S
functions of channel and radial frequency, fitted per base codec and operating point on
training photos by rdpbench.diffusion.fit_observation (shipped as JSON next to this file).
Then x0 | (x_t, b) is Gaussian per component and its mean is still Wiener shrinkage
(GaussianImageModel.conditional_x0). With h fitted (not fixed to 1), frequencies the base
removed get h ~ 0 and the base adds nothing there, as it should.

This is the exact, CPU-runnable reference for every base-conditioned codec: the per-step KL
with and without the base can be compared exactly, and a learned conditioned denoiser should
do at least as well.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.diffusion.conditioning import Condition
from rdpbench.diffusion.gaussian import GaussianDenoiser
from rdpbench.errors import ConfigError

OBSERVATIONS = Path(__file__).with_name("observations")
MIN_ERROR = 1e-12  # a component the base reproduces exactly still gets a finite precision


@dataclass(frozen=True)
class ObservationFit:
    """h and S per decorrelated channel (rows) at radial frequencies `frequency` (cycles/pixel)."""

    frequency: tuple[float, ...]
    gain: tuple[tuple[float, ...], ...]
    error: tuple[tuple[float, ...], ...]
    pairs: int = 0

    def grids(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(h, S) on the rfft2 grid of an H x W tile (3, H, W//2+1), linear in |f| between fitted bins."""
        f = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2)
        gain = np.stack([np.interp(f, self.frequency, row) for row in self.gain])
        error = np.stack([np.interp(f, self.frequency, row) for row in self.error])
        return gain, np.maximum(error, MIN_ERROR)


@dataclass(frozen=True)
class ObservationModel:
    """The fits of one base codec, keyed by its operating point label (e.g. "step=2.0")."""

    codec: str
    codec_config_sha256: str
    fits: dict[str, ObservationFit]
    fitted_on: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "ObservationModel":
        try:
            raw = json.loads(Path(path).read_text())
            fits = {k: ObservationFit(tuple(v["frequency"]), tuple(map(tuple, v["gain"])),
                                      tuple(map(tuple, v["error"])), int(v.get("pairs", 0)))
                    for k, v in raw["fits"].items()}
            return cls(raw["codec"], raw["codec_config_sha256"], fits, raw.get("fitted_on", ""), raw.get("notes", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"conditional gaussian denoiser: cannot read observation model {path} ({exc}); "
                              f"fit one with `python -m rdpbench.diffusion.fit_observation --codec <name>`") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    def fit(self, key: str | None, who: str) -> ObservationFit:
        if key not in self.fits:
            raise ConfigError(f"{who}: no observation fit for {self.codec} at {key!r}; fitted: {sorted(self.fits)}. "
                              f"Fit it with `python -m rdpbench.diffusion.fit_observation --codec {self.codec} "
                              f"--op {key}` or use a fitted operating point")
        return self.fits[key]


class ConditionalGaussianDenoiser(GaussianDenoiser):
    """GaussianDenoiser that also uses `cond.base_latent` (the decoded base, in pixel space)."""

    def __init__(self, observation: str = "ultralow", params: str | None = None, log_snr_max: float = 12.0,
                 log_snr_min: float = -22.0) -> None:
        super().__init__(params, log_snr_max, log_snr_min)
        path = Path(observation).expanduser()
        self.observation_path = path if path.suffix == ".json" else OBSERVATIONS / f"{observation}.json"
        self.observation = ObservationModel.load(self.observation_path)

    def predict_x0(self, x_t: np.ndarray, t: int, cond: Condition | None = None) -> np.ndarray:
        """Without a base this is the unconditional Wiener estimate (a valid, more expensive prior)."""
        if cond is None or cond.base_latent is None:
            return super().predict_x0(x_t, t, cond)
        fit = self.observation.fit(cond.observation, "conditional gaussian denoiser")
        gain, error = fit.grids(*x_t.shape[1:])
        return self.model.conditional_x0(x_t, float(self.alphas_cumprod[t]), cond.base_latent, gain, error)

    def config(self) -> dict[str, Any]:
        """Which fit was used is part of every stream's meaning, so it enters the config hash."""
        from rdpbench.weights import sha256_of

        return {**super().config(), "backend": "conditional_gaussian", "observation_codec": self.observation.codec,
                "observation_sha256": sha256_of(self.observation_path),
                "observation_codec_config_sha256": self.observation.codec_config_sha256}
