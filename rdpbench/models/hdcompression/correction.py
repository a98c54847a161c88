"""VQ-latent correction: the enhanced LIC output's features merged into the VQ stream before and
inside the VQ decoder [paper: a correction module merges the two streams before the VQ decoder;
our reading: the merge also reaches every decoder scale].

`LICFeatures` is one feature pyramid of x_hat_lic (x_hat_lic itself, then 1/2 ... 1/f) shared by the
index predictor (its coarsest level, at the token grid) and the correction. The correction adds a
zero-initialised projection of [z_q; coarsest features] to the codebook latent, and a zero-initialised
projection of the pyramid level of matching size to each decoder up-block's output, through forward
hooks on the (diffusers `VQModel`) decoder: at initialisation the decoder is the tokenizer's own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rdpbench.models.hdcompression.drv import strided_features


def zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def decode_latent(tokenizer: Any, z: torch.Tensor) -> torch.Tensor:
    """A diffusers VQModel's decoder on a continuous latent (VQModel.decode would look codebook-lookup
    models' input up as indices)."""
    spatial = z if tokenizer.config.norm_type == "spatial" else None
    return tokenizer.decoder(tokenizer.post_quant_conv(z), spatial)


class LICFeatures(nn.Module):
    """[x_hat_lic, features at 1/2, ..., 1/2^len(widths)] (x in [0, 1])."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        channels = (3, *widths[:-1])
        self.stages = nn.ModuleList(strided_features(c, (w,)) for c, w in zip(channels, widths))
        self.channels = (3, *widths)

    def forward(self, x_lic: torch.Tensor) -> list[torch.Tensor]:
        levels = [x_lic]
        h = x_lic * 2 - 1
        for stage in self.stages:
            h = stage(h)
            levels.append(h)
        return levels


class CorrectedDecoder(nn.Module):
    """The tokenizer's decoder with the correction applied (hooks add the per-scale residuals)."""

    def __init__(self, tokenizer: Any, feature_channels: tuple[int, ...]) -> None:
        super().__init__()
        embed = tokenizer.quantize.vq_embed_dim
        self.tokenizer = [tokenizer]  # a list: the tokenizer is registered (and saved) by the network
        self.latent = zero_conv(embed + feature_channels[-1], embed)
        shapes = self._up_block_shapes(tokenizer, len(feature_channels) - 1)
        self.levels = [level for level, _ in shapes]
        self.skips = nn.ModuleList(zero_conv(feature_channels[level], channels) for level, channels in shapes)
        self._pending: list[torch.Tensor] | None = None
        for i, block in enumerate(tokenizer.decoder.up_blocks):
            block.register_forward_hook(self._hook(i))

    @staticmethod
    def _up_block_shapes(tokenizer: Any, n_levels: int) -> list[tuple[int, int]]:
        """(pyramid level, channels) of each up-block's output, from a dry run on a 2x2 latent."""
        seen: list[tuple[int, int]] = []
        hooks = [b.register_forward_hook(lambda m, i, o: seen.append((o.shape[-1], o.shape[1])))
                 for b in tokenizer.decoder.up_blocks]
        z = torch.zeros(1, tokenizer.quantize.vq_embed_dim, 2, 2, device=tokenizer.device, dtype=tokenizer.dtype)
        with torch.no_grad():
            decode_latent(tokenizer, z)
        for hook in hooks:
            hook.remove()
        size = seen[-1][0]  # the last block runs at full resolution
        return [(min(n_levels, (size // w).bit_length() - 1), c) for w, c in seen]

    def _hook(self, i: int):
        def add(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            if self._pending is None:
                return output
            return output + self.skips[i](self._pending[self.levels[i]])
        return add

    def forward(self, z_q: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        tokenizer = self.tokenizer[0]
        z = z_q + self.latent(torch.cat([z_q, features[-1]], 1))
        self._pending = features
        try:
            out = decode_latent(tokenizer, z)
        finally:
            self._pending = None
        return (out.clamp(-1, 1) + 1) / 2
