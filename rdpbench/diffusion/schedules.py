"""Noise schedules (cumulative alphas over 1000 DDPM steps) and the DDPM/DDIM step algebra.

The step algebra follows METHODS.md section 1; it is written out here rather than
borrowed from diffusers' schedulers because DiffC needs the posterior coefficients
(c0, c1, sigma) themselves, for arbitrary t -> s jumps, in numpy, and the
analytic Gaussian backend must run without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_TRAIN_STEPS = 1000


def scaled_linear(beta_start: float = 0.00085, beta_end: float = 0.012, steps: int = N_TRAIN_STEPS) -> np.ndarray:
    """Stable Diffusion's schedule (diffusers 'scaled_linear'); used when no scheduler config is given."""
    betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def log_snr_linear(log_snr_max: float = 12.0, log_snr_min: float = -22.0, steps: int = N_TRAIN_STEPS) -> np.ndarray:
    """abar with log(abar/(1-abar)) linear in t: reaches SNR ~ 0 at T, which a pixel-space model with
    huge low-frequency power needs (SD's abar_T = 0.0047 would leave x_T far from independent of x0)."""
    log_snr = np.linspace(log_snr_max, log_snr_min, steps, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-log_snr))


@dataclass(frozen=True)
class Posterior:
    """q(x_s | x_t, x0) = N(c0 x0 + c1 x_t, sigma^2 I) for s < t (s = -1 means the clean image)."""

    c0: float
    c1: float
    sigma: float


def posterior(abar: np.ndarray, t: int, s: int) -> Posterior:
    abar_t = float(abar[t])
    abar_s = float(abar[s]) if s >= 0 else 1.0
    alpha = abar_t / abar_s
    beta = 1.0 - alpha
    return Posterior(c0=np.sqrt(abar_s) * beta / (1.0 - abar_t),
                     c1=np.sqrt(alpha) * (1.0 - abar_s) / (1.0 - abar_t),
                     sigma=float(np.sqrt(beta * (1.0 - abar_s) / (1.0 - abar_t))))


def ddim_step(abar: np.ndarray, x_t: np.ndarray, x0_hat: np.ndarray, t: int, s: int) -> np.ndarray:
    """Deterministic DDIM (eta = 0) jump t -> s: keep the predicted noise, rescale (probability flow)."""
    abar_t = float(abar[t])
    abar_s = float(abar[s]) if s >= 0 else 1.0
    eps_hat = (x_t - np.sqrt(abar_t) * x0_hat) / np.sqrt(1.0 - abar_t)
    return np.sqrt(abar_s) * x0_hat + np.sqrt(1.0 - abar_s) * eps_hat


def spaced(t_max: int, t_min: int, count: int) -> list[int]:
    """`count` distinct integer timesteps from t_max down to t_min (inclusive), evenly spaced."""
    if count < 1 or not 0 <= t_min <= t_max < N_TRAIN_STEPS * 10:
        raise ValueError(f"bad timestep range {t_max}..{t_min} x{count}")
    values = np.unique(np.round(np.linspace(t_max, t_min, count)).astype(int))[::-1]
    return [int(v) for v in values]
