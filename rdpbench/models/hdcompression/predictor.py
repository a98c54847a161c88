"""The generative stream's index map: which positions travel, and the masked-token transformer that
predicts the rest (HybridFlow-style [our reading of HDCompression, METHODS.md section 4]).

Transmitted positions form a lattice: every `stride`-th row and column from a phase (pi, pj), i.e.
1/stride^2 of the map (stride 2 = 1/4, 3 = 1/9, as in HybridFlow; 0 = none, 1 = all). The
transformer sees the known indices (a mask token elsewhere), cross-attends to features of the
enhanced LIC output at the token grid, and is FiLM-modulated by the index DRV (or a learned null
vector: trained with DRV dropout, so prediction with and without the DRV can be compared).
Positions are given by a depthwise convolution over the grid (conditional positional encoding), and
attention runs within non-overlapping windows of `window` x `window` tokens (the training crops' whole
grid), so one network serves any image size at a cost linear in its area, seeing the context it was
trained with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lattice_mask(height: int, width: int, stride: int, phase: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """(height, width) bool: True where the index is transmitted."""
    if stride == 0:
        return torch.zeros(height, width, dtype=torch.bool)
    rows = (torch.arange(height) - phase[0]) % stride == 0
    cols = (torch.arange(width) - phase[1]) % stride == 0
    return rows[:, None] & cols[None, :]


class PredictorLayer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, h: torch.Tensor, context: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        q = self.norm1(h)
        h = h + self.self_attn(q, q, q, key_padding_mask=padding, need_weights=False)[0]
        h = h + self.cross_attn(self.norm2(h), context, context, key_padding_mask=padding, need_weights=False)[0]
        return h + self.mlp(self.norm3(h))


def to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W) with H, W multiples of `window` -> (B * windows, window^2, C)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // window, window, w // window, window).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, window * window, c)


def from_windows(x: torch.Tensor, batch: int, height: int, width: int, window: int) -> torch.Tensor:
    """The inverse of `to_windows`: (B * windows, window^2, C) -> (B, C, H, W)."""
    c = x.shape[-1]
    x = x.view(batch, height // window, width // window, window, window, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(batch, c, height, width)


class IndexPredictor(nn.Module):
    """logits (B, K, h, w) over the codebook at every position, from the known indices and the LIC features."""

    def __init__(self, codebook_size: int, feature_channels: int, drv_dim: int, dim: int, layers: int,
                 heads: int, window: int) -> None:
        super().__init__()
        self.codebook_size, self.window = codebook_size, window
        self.embed = nn.Embedding(codebook_size + 1, dim)  # the last id is the mask token
        self.position = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.context = nn.Conv2d(feature_channels, dim, 1)
        self.context_position = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.film = nn.Linear(drv_dim, 2 * dim)
        self.null_drv = nn.Parameter(torch.zeros(drv_dim))
        self.layers = nn.ModuleList(PredictorLayer(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, codebook_size)

    def forward(self, indices: torch.Tensor, known: torch.Tensor, features: torch.Tensor,
                v_index: torch.Tensor | None) -> torch.Tensor:
        """indices (B, h, w) long, known (B, h, w) bool, features (B, C, h, w), v_index (B, drv_dim) or None."""
        batch, height, width = indices.shape
        tokens = torch.where(known, indices, torch.full_like(indices, self.codebook_size))
        h = self.embed(tokens).permute(0, 3, 1, 2)
        h = h + self.position(h)
        context = self.context(features)
        context = context + self.context_position(context)
        drv = self.null_drv.expand(batch, -1) if v_index is None else v_index
        scale, shift = self.film(drv)[:, :, None, None].chunk(2, 1)
        h = h * (1 + scale) + shift
        pad = (0, -width % self.window, 0, -height % self.window)
        padding = None
        if any(pad):
            valid = F.pad(torch.ones(batch, 1, height, width, device=h.device), pad)
            padding = to_windows(valid, self.window)[..., 0] == 0
        h, context = to_windows(F.pad(h, pad), self.window), to_windows(F.pad(context, pad), self.window)
        for layer in self.layers:
            h = layer(h, context, padding)
        logits = self.head(self.norm(h))
        full = from_windows(logits, batch, height + pad[3], width + pad[1], self.window)
        return full[:, :, :height, :width]
