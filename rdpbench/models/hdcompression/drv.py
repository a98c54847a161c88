"""Dense representative vectors (DRVs), DiffIR-style [our reading of HDCompression, METHODS.md section 4].

Stage 1 (training only): `DRVExtractor` sees the ground truth x and the LIC output x_hat and
compresses what x_hat lacks into two small vectors, one for the LIC enhancement and one for the
index prediction. Stage 2: `DRVSampler` regenerates both from x_hat alone with a tiny MLP denoiser
and a few-step deterministic DDIM (diffusers' DDIMScheduler, eta = 0) from seeded noise, so the
decoder rebuilds them exactly and they cost no bits. `LICEnhancer` applies the first DRV to x_hat
by FiLM (x_hat_lic = x_hat + a zero-initialised residual: at initialisation x_hat_lic = x_hat).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def strided_features(in_channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """A conv stack halving the resolution per width (3x3 stride 2 + GELU)."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 3, 2, 1), nn.GELU()]
        in_channels = width
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class DRVs:
    lic: torch.Tensor  # (B, dim): modulates the LIC enhancement
    index: torch.Tensor  # (B, dim): guides the index prediction


class GlobalEncoder(nn.Module):
    """Image(s) -> one global vector (mean-pooled strided conv features + MLP): size-independent."""

    def __init__(self, in_channels: int, width: int, out_dim: int) -> None:
        super().__init__()
        self.features = strided_features(in_channels, (width // 2, width, width, width))
        self.head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x * 2 - 1).mean(dim=(2, 3)))


class IndexProbe(nn.Module):
    """Training only: index-map logits from x_hat and the index DRV, so that this DRV learns to carry
    what x_hat lacks about the index map before the predictor exists (stage order of the paper)."""

    def __init__(self, dim: int, width: int, codebook_size: int, halvings: int) -> None:
        super().__init__()
        self.features = strided_features(3, (width,) * halvings)
        self.film = nn.Linear(dim, 2 * width)
        self.head = nn.Conv2d(width, codebook_size, 1)

    def forward(self, x_hat: torch.Tensor, v_index: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        h = nn.functional.adaptive_avg_pool2d(self.features(x_hat * 2 - 1), grid)
        scale, shift = self.film(v_index)[:, :, None, None].chunk(2, 1)
        return self.head(nn.functional.gelu(h * (1 + scale) + shift))


class DRVExtractor(nn.Module):
    """E(x, x_hat) -> the two DRVs (ground-truth side; the decoder never runs it)."""

    def __init__(self, dim: int, width: int, codebook_size: int, halvings: int) -> None:
        super().__init__()
        self.dim = dim
        self.encoder = GlobalEncoder(6, width, 2 * dim)
        self.probe = IndexProbe(dim, width, codebook_size, halvings)

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> DRVs:
        v = self.encoder(torch.cat([x, x_hat], 1))
        return DRVs(v[:, :self.dim], v[:, self.dim:])


class DRVDenoiser(nn.Module):
    """The tiny diffusion model: an MLP predicting the clean v_0 from (v_t, t, features of x_hat); with
    4 steps and betas up to 0.99, a noise prediction would be amplified ~25x into v_0 at the first step."""

    def __init__(self, dim: int, width: int, steps: int) -> None:
        super().__init__()
        self.condition = GlobalEncoder(3, width, width)
        self.time = nn.Embedding(steps, width)
        self.mlp = nn.Sequential(nn.Linear(2 * dim + 2 * width, 2 * width), nn.GELU(),
                                 nn.Linear(2 * width, 2 * width), nn.GELU(), nn.Linear(2 * width, 2 * dim))

    def forward(self, v_t: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([v_t, self.time(t), condition], 1))


class DRVSampler(nn.Module):
    """Samples both DRVs from x_hat: `steps` DDIM steps from seeded noise (deterministic given the seed)."""

    def __init__(self, dim: int, width: int, steps: int, beta_start: float, beta_end: float) -> None:
        super().__init__()
        from diffusers import DDIMScheduler

        self.dim, self.steps = dim, steps
        self.denoiser = DRVDenoiser(dim, width, steps)
        self.scheduler = DDIMScheduler(num_train_timesteps=steps, beta_start=beta_start, beta_end=beta_end,
                                       beta_schedule="linear", clip_sample=False, set_alpha_to_one=True,
                                       prediction_type="sample")
        self.scheduler.set_timesteps(steps)

    def forward(self, x_hat: torch.Tensor, seed: int) -> DRVs:
        """Differentiable (stage 2 trains through the whole chain, as DiffIR does)."""
        generator = torch.Generator().manual_seed(seed)
        v = torch.randn((x_hat.shape[0], 2 * self.dim), generator=generator).to(x_hat)
        condition = self.denoiser.condition(x_hat)
        for t in self.scheduler.timesteps:
            steps = torch.full((x_hat.shape[0],), int(t), dtype=torch.long, device=x_hat.device)
            v = self.scheduler.step(self.denoiser(v, steps, condition), int(t), v, eta=0.0).prev_sample
        return DRVs(v[:, :self.dim], v[:, self.dim:])


class LICEnhancer(nn.Module):
    """x_hat_lic = x_hat + residual(x_hat) with every feature map FiLM-modulated by the LIC DRV."""

    def __init__(self, dim: int, width: int, blocks: int) -> None:
        super().__init__()
        self.inp = nn.Conv2d(3, width, 3, 1, 1)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, 1, 1) for _ in range(blocks))
        self.films = nn.ModuleList(nn.Linear(dim, 2 * width) for _ in range(blocks))
        self.out = nn.Conv2d(width, 3, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x_hat: torch.Tensor, v_lic: torch.Tensor) -> torch.Tensor:
        h = self.inp(x_hat * 2 - 1)
        for conv, film in zip(self.convs, self.films):
            scale, shift = film(v_lic)[:, :, None, None].chunk(2, 1)
            h = h + nn.functional.gelu(conv(h) * (1 + scale) + shift)
        return (x_hat + self.out(h)).clamp(0, 1)
