"""One interface for every denoiser DiffC can use: latent codec + x0 prediction + schedule.

DiffC's state lives in numpy float64 so the step algebra and the RCC are the same
code for every backend; a backend converts at its boundary (torch for diffusers).
A denoiser may be conditioned (`cond`: a base reconstruction, text, the tile); an
unconditional one ignores it, which is always a valid (if more expensive) prior.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from rdpbench.diffusion.conditioning import Condition


class Denoiser(ABC):
    """x0 = to_latent(image); predict_x0(x_t, t) estimates x0 from x_t = sqrt(abar) x0 + sqrt(1-abar) eps."""

    #: image pixels per latent pixel (8 for the SD VAE, 1 in pixel space); images are padded to a multiple
    downsample: int = 1
    #: channels of the latent x0 (3 in pixel space, 4 for the SD VAE)
    latent_channels: int = 3
    #: DiffC settings that suit this latent space (step range, chunking, tiles, ops); a codec config
    #: value of null takes these, so `codec/denoiser=...` alone retunes the codec (also inside suites).
    #: The base values are the Stable Diffusion setup [inferred: the paper does not list its timesteps].
    codec_defaults: ClassVar[dict[str, Any]] = {
        "num_steps": 40, "t_max": 999, "t_min": 100, "chunk_kl_bits": 12.0, "slack_bits": 2.0, "max_bits": 16,
        "tile_size": 768, "tile_overlap": 64, "ops": {"steps": [5, 10, 15, 20, 25, 30, 35, 40]}}

    @property
    @abstractmethod
    def alphas_cumprod(self) -> np.ndarray:
        """abar_t for t = 0..T-1 (float64)."""

    @abstractmethod
    def to_latent(self, image: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 (H, W multiples of `downsample`) -> deterministic latent x0 (C, h, w) float64."""

    @abstractmethod
    def to_image(self, latent: np.ndarray) -> np.ndarray:
        """Latent (C, h, w) -> uint8 (h*downsample) x (w*downsample) x 3."""

    @abstractmethod
    def predict_x0(self, x_t: np.ndarray, t: int, cond: Condition | None = None) -> np.ndarray:
        """The model's x0 estimate at integer timestep t, given what `cond` carries (if it uses it)."""

    def requirements(self) -> str:
        """Raise WeightsError naming what is missing; '' when ready."""
        return ""

    def compute(self) -> tuple[str, str]:
        """(device class, dtype) the denoiser runs in (numpy denoisers: the host, float64)."""
        return "cpu", "float64"

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Everything that changes the bitstream (hashed into results provenance)."""
