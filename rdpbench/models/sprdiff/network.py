"""SPRDiff-style network (seed 001): triple encoder, fused latent with a hyperprior, distortion-aware
reconstruction, and a frozen diffusion UNet guided by pixel- and semantic-level conditions.

[paper] three encoders (the diffusion model's frozen VAE encoder, a distortion-oriented encoder,
a semantic encoder) fused into the transmitted latent, whose entropy model also sees the fused
features; a reconstruction module with dual feature extraction giving a coarse image plus pixel-
and semantic-level conditions that guide the diffusion model.
[our reading] (METHODS.md section 3) the distortion-oriented encoder is the analysis transform of
an MSE-trained CompressAI mean-scale hyperprior (`ultralow` offline), and the rest of that codec
initialises ours: at initialisation the fusion adds nothing (zero-initialised last layer), so the
network *is* that codec, and training can only move it from there. The hyper-analysis sees the
latent and the fused features (its extra input channels start at zero). Pixel conditions reach
the UNet through a ControlNet-lite branch (zero-initialised residuals on every down-block skip connection
and the mid block), semantic ones as tokens through a cross-attention layer after the mid block.

The UNet, the VAE and the three encoders stay frozen; diffusers' UNets take no extra residuals in
UNet2DModel (the offline mini-ldm) and their cross-attention width is fixed in UNet2DConditionModel
(SD 2.1-base), so both are fed through forward hooks here: one mechanism for every diffusers UNet.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from compressai.models import CompressionModel
from torch import nn


def widened_input(conv: nn.Conv2d, extra: int) -> nn.Conv2d:
    """A copy of `conv` with `extra` more input channels whose weights start at zero (same output at init)."""
    wide = nn.Conv2d(conv.in_channels + extra, conv.out_channels, conv.kernel_size, conv.stride, conv.padding)
    with torch.no_grad():
        wide.weight.zero_()
        wide.weight[:, :conv.in_channels] = conv.weight
        wide.bias.copy_(conv.bias)
    return wide


def zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.GELU(),
                         nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.GELU())


@dataclass(frozen=True)
class Conditions:
    """What the reconstruction module gives the diffusion decoder (all from the decoded latent)."""

    coarse: torch.Tensor  # image in [0, 1] at the padded size
    pixel: torch.Tensor  # (B, pixel_channels, H/8, W/8): the ControlNet-lite input
    tokens: torch.Tensor  # (B, tokens, token_dim): the cross-attention context


class FusionEncoder(nn.Module):
    """y = distortion features + a zero-initialised fusion of all three encoders' features (at 1/16)."""

    def __init__(self, latent_channels: int, vae_channels: int, semantic_channels: int, width: int) -> None:
        super().__init__()
        self.vae_in = nn.Sequential(nn.Conv2d(vae_channels, width, 3, 1, 1), nn.GELU())
        self.trunk = conv_block(width + latent_channels + semantic_channels, width)
        self.to_latent = zero_conv(width, latent_channels)

    def forward(self, distortion: torch.Tensor, vae_latent: torch.Tensor,
                semantic: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # the VAE latent (1/8 for SD-style VAEs) pooled to the distortion features' grid (1/16)
        parts = [F.adaptive_avg_pool2d(self.vae_in(vae_latent), distortion.shape[-2:]), distortion]
        if semantic is not None:
            parts.append(F.interpolate(semantic, size=distortion.shape[-2:], mode="bilinear", align_corners=False))
        fused = self.trunk(torch.cat(parts, 1))
        return distortion + self.to_latent(fused), fused


class ReconstructionModule(nn.Module):
    """Distortion-aware reconstruction with dual feature extraction: the coarse image (the base codec's
    synthesis, fine-tuned) plus pixel-level (1/8 feature map) and semantic-level (pooled tokens) conditions."""

    def __init__(self, synthesis: nn.Module, latent_channels: int, pixel_channels: int, tokens: int,
                 token_dim: int, width: int) -> None:
        super().__init__()
        self.synthesis = synthesis
        self.features = conv_block(latent_channels, width)
        self.to_pixel = nn.Sequential(nn.ConvTranspose2d(width, width, 4, 2, 1), nn.GELU(),
                                      nn.Conv2d(width, pixel_channels, 3, 1, 1))  # 1/16 -> 1/8
        self.grid = int(math.isqrt(tokens))
        if self.grid ** 2 != tokens:
            raise ValueError(f"sprdiff: tokens={tokens} must be a square (tokens pool the latent on a grid)")
        self.to_tokens = nn.Linear(width, token_dim)
        self.position = nn.Parameter(torch.zeros(tokens, token_dim))

    def forward(self, y_hat: torch.Tensor) -> Conditions:
        coarse = self.synthesis(y_hat).clamp(0, 1)
        features = self.features(y_hat)
        pooled = F.adaptive_avg_pool2d(features, self.grid).flatten(2).transpose(1, 2)
        return Conditions(coarse, self.to_pixel(features), self.to_tokens(pooled) + self.position)


class ControlLite(nn.Module):
    """ControlNet-lite: a small conv tower over (x_t, pixel condition, timestep) giving one zero-initialised
    residual per down-block skip connection of the frozen UNet (shapes read from it once) and one for its mid block."""

    def __init__(self, in_channels: int, skip_shapes: list[tuple[int, int]], mid_channels: int, width: int) -> None:
        super().__init__()
        from diffusers.models.embeddings import TimestepEmbedding, Timesteps

        self.time_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(width, width)
        self.stem = nn.Conv2d(in_channels, width, 3, 1, 1)
        self.body = conv_block(width, width)
        self.downsample = nn.Conv2d(width, width, 3, 2, 1)
        self.skip_out = nn.ModuleList(zero_conv(width, channels) for channels, _ in skip_shapes)
        self.skip_factor = [factor for _, factor in skip_shapes]
        self.mid_out = zero_conv(width, mid_channels)

    def forward(self, x_t: torch.Tensor, pixel: torch.Tensor, t: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        emb = self.time_embed(self.time_proj(t.reshape(-1).expand(x_t.shape[0])).to(x_t.dtype))
        h = self.body(self.stem(torch.cat([x_t, pixel], 1)) + emb[:, :, None, None])
        levels = {1: h}  # downsampling factor -> features (the one strided conv, applied repeatedly)
        while max(levels) < max(self.skip_factor):
            levels[2 * max(levels)] = F.gelu(self.downsample(levels[max(levels)]))
        skips = [out(levels[factor]) for out, factor in zip(self.skip_out, self.skip_factor)]
        return skips, self.mid_out(levels[max(self.skip_factor)])


class TokenCrossAttention(nn.Module):
    """Cross-attention from the UNet's mid-block features to the semantic tokens, output zero-initialised."""

    def __init__(self, channels: int, token_dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(32, channels), channels)
        self.attention = nn.MultiheadAttention(channels, heads, kdim=token_dim, vdim=token_dim, batch_first=True)
        nn.init.zeros_(self.attention.out_proj.weight)
        nn.init.zeros_(self.attention.out_proj.bias)

    def forward(self, hidden: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        b, c, h, w = hidden.shape
        query = self.norm(hidden).flatten(2).transpose(1, 2)
        out, _ = self.attention(query, tokens, tokens, need_weights=False)
        return hidden + out.transpose(1, 2).reshape(b, c, h, w)


class GuidedUNet(nn.Module):
    """A frozen diffusers UNet plus the trainable ControlNet-lite and token cross-attention, applied by hooks."""

    def __init__(self, unet: nn.Module, pixel_channels: int, token_dim: int, width: int, heads: int) -> None:
        super().__init__()
        self.unet = unet.requires_grad_(False)
        self.takes_text = hasattr(unet.config, "cross_attention_dim") and unet.config.cross_attention_dim is not None
        skip_shapes, mid_channels = self._skip_shapes()
        self.control = ControlLite(unet.config.in_channels + pixel_channels, skip_shapes, mid_channels, width)
        self.cross = TokenCrossAttention(mid_channels, token_dim, heads)
        # SD's own cross-attention reads the tokens too (its key/value width is the text encoder's)
        self.context = nn.Linear(token_dim, unet.config.cross_attention_dim) if self.takes_text else None
        self._active: dict[str, Any] | None = None
        for block in unet.down_blocks:
            block.register_forward_hook(self._down_hook)
        unet.mid_block.register_forward_hook(self._mid_hook)

    def _skip_shapes(self) -> tuple[list[tuple[int, int]], int]:
        """(channels, downsampling factor) of every down block's skip connection, and the mid block's channels."""
        shapes: list[tuple[int, int]] = []
        hooks = []
        size = 32
        for block in self.unet.down_blocks:
            hooks.append(block.register_forward_hook(
                lambda m, i, o: shapes.extend((s.shape[1], size // s.shape[-1]) for s in o[1])))
        mid: list[int] = []
        hooks.append(self.unet.mid_block.register_forward_hook(lambda m, i, o: mid.append(o.shape[1])))
        x = torch.zeros(1, self.unet.config.in_channels, size, size)
        with torch.no_grad():
            self.unet(x, torch.tensor([1]), **self._unet_kwargs(None, 1))
        for hook in hooks:
            hook.remove()
        return shapes, mid[0]

    def _unet_kwargs(self, tokens: torch.Tensor | None, batch: int) -> dict[str, Any]:
        if not self.takes_text:
            return {}
        if tokens is None:
            return {"encoder_hidden_states": torch.zeros(batch, 1, self.unet.config.cross_attention_dim)}
        return {"encoder_hidden_states": self.context(tokens)}

    def _take_skip(self) -> torch.Tensor:
        assert self._active is not None
        index = self._active["skip"]
        self._active["skip"] = index + 1
        return self._active["skips"][index]

    def _down_hook(self, module: nn.Module, inputs: Any, output: tuple) -> tuple:
        if self._active is None:
            return output
        hidden, skips = output  # as in ControlNet, residuals go to the skip connections, not the main path
        return hidden, tuple(s + self._take_skip() for s in skips)

    def _mid_hook(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if self._active is None:
            return output
        return self.cross(output + self._active["mid"], self._active["tokens"])

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, conditions: Conditions) -> torch.Tensor:
        """The frozen UNet's output (epsilon, v or x0, as the scheduler says) under the conditions."""
        pixel = conditions.pixel
        if pixel.shape[-2:] != x_t.shape[-2:]:  # a VAE that does not downsample 8x
            pixel = F.interpolate(pixel, size=x_t.shape[-2:], mode="bilinear", align_corners=False)
        skips, mid = self.control(x_t, pixel, t)
        self._active = {"skips": skips, "mid": mid, "tokens": conditions.tokens, "skip": 0}
        try:
            return self.unet(x_t, t, **self._unet_kwargs(conditions.tokens, x_t.shape[0])).sample
        finally:
            self._active = None


class SPRDiffNet(CompressionModel):
    """The whole network. Frozen: vae (diffusers AutoencoderKL), distortion encoder, semantic encoder
    (or None), the UNet inside `guided`. Trainable: fusion, hyperprior (h_a, h_s, entropy models),
    reconstruction, and the guidance branches.

    `base` is the distortion-oriented CompressAI mean-scale hyperprior whose g_a is the frozen
    distortion encoder and whose g_s, h_a, h_s and entropy models initialise ours.
    """

    downsampling_factor = 64  # y at 1/16, z at 1/64 (the base codec's layout)

    def __init__(self, base: CompressionModel, vae: nn.Module, unet: nn.Module, semantic: nn.Module | None = None, *,
                 semantic_channels: int = 0, fusion_width: int = 96, pixel_channels: int = 32, tokens: int = 16,
                 token_dim: int = 128, control_width: int = 64, heads: int = 4) -> None:
        super().__init__()
        latent_channels = base.g_a[-1].out_channels
        self.distortion_encoder = copy.deepcopy(base.g_a).requires_grad_(False)
        self.vae = vae.requires_grad_(False)
        self.semantic_encoder = semantic.requires_grad_(False) if semantic is not None else None
        self.fusion = FusionEncoder(latent_channels, vae.config.latent_channels, semantic_channels, fusion_width)
        self.h_a = copy.deepcopy(base.h_a)
        self.h_a[0] = widened_input(base.h_a[0], fusion_width)
        self.h_s = copy.deepcopy(base.h_s)
        self.entropy_bottleneck = copy.deepcopy(base.entropy_bottleneck)
        self.gaussian_conditional = copy.deepcopy(base.gaussian_conditional)
        self.reconstruction = ReconstructionModule(copy.deepcopy(base.g_s), latent_channels, pixel_channels, tokens,
                                                   token_dim, fusion_width)
        self.guided = GuidedUNet(unet, pixel_channels, token_dim, control_width, heads)
        self.M = latent_channels

    # the learned-codec base reads these names (HyperpriorLayout): g_s is the coarse synthesis
    @property
    def g_s(self) -> nn.Module:
        return self.reconstruction.synthesis

    def frozen_modules(self) -> list[nn.Module]:
        frozen = [self.distortion_encoder, self.vae, self.guided.unet]
        return frozen + ([self.semantic_encoder] if self.semantic_encoder is not None else [])

    def train(self, mode: bool = True) -> "SPRDiffNet":
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()  # frozen parts keep eval behaviour (GDN, dropout, norms) while the rest trains
        return self

    def vae_latent(self, x: torch.Tensor) -> torch.Tensor:
        """x in [0, 1] -> the VAE posterior mean times its scaling factor (the diffusion model's space)."""
        posterior = self.vae.encode(x * 2 - 1).latent_dist
        return posterior.mean * self.vae.config.scaling_factor

    def latent_to_image(self, latent: torch.Tensor) -> torch.Tensor:
        return (self.vae.decode(latent / self.vae.config.scaling_factor).sample + 1).div(2).clamp(0, 1)

    def analysis(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The triple encoder and fusion: (y, the hyper-analysis input [y; fused features])."""
        semantic = self.semantic_encoder(x) if self.semantic_encoder is not None else None
        y, fused = self.fusion(self.distortion_encoder(x), self.vae_latent(x), semantic)
        return y, torch.cat([y, fused], 1)

    def quantized_latent(self, x: torch.Tensor, step: float = 1.0,
                         training: bool | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(y_hat, likelihoods of y and z) with y quantised at `step`: CompressAI's noisy quantisation
        in training mode, or (training=False) rounding around the hyperprior's means, as the decoder
        sees it."""
        y, hyper_input = self.analysis(x)
        z_hat, z_likelihoods = self.entropy_bottleneck(self.h_a(hyper_input), training=training)
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_scaled, y_likelihoods = self.gaussian_conditional(y / step, scales / step, means=means / step,
                                                            training=training)
        return y_scaled * step, {"y": y_likelihoods, "z": z_likelihoods}

    def forward(self, x: torch.Tensor, step: float = 1.0) -> dict[str, Any]:
        """Training pass of the codec part: noisy quantisation of y / step, likelihoods, coarse image, conditions."""
        y_hat, likelihoods = self.quantized_latent(x, step)
        return {"likelihoods": likelihoods, "conditions": self.reconstruction(y_hat)}


def guided_sample(net: SPRDiffNet, scheduler: Any, conditions: Conditions, steps: int, strength: float,
                  seed: int) -> torch.Tensor:
    """Seeded DDIM (eta = 0) from the coarse image's latent noised to `strength` x T, as diffusers'
    img2img pipelines start (the tail of a `steps / strength`-step schedule); returns the image in [0, 1].

    The noise comes from a CPU generator seeded by `seed`, so a decoder on the same device class
    redraws it exactly; everything after it is deterministic.
    """
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(scheduler.config, clip_sample=False, set_alpha_to_one=False)
    ddim.set_timesteps(max(steps, math.ceil(steps / strength)))
    timesteps = ddim.timesteps[-steps:]
    start = net.vae_latent(conditions.coarse)
    noise = torch.randn(start.shape, generator=torch.Generator().manual_seed(seed)).to(start.device, start.dtype)
    x = ddim.add_noise(start, noise, timesteps[:1])
    for t in timesteps:
        x = ddim.step(net.guided(x, t.to(x.device).reshape(1), conditions), t, x).prev_sample
    return net.latent_to_image(x)
