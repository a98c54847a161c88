"""HDCompression-style network (seed 002): the parts after the LIC stream, assembled.

Data flow (decoder side; the encoder runs the same functions on the same decoded inputs):
  x_hat (the LIC stream decoded from its bytes) -> DRVSampler(x_hat, seed) -> (v_lic, v_index)
  x_hat_lic = LICEnhancer(x_hat, v_lic);  features = LICFeatures(x_hat_lic)
  prior = IndexPredictor(nothing known, features, v_index)     -> codes the transmitted indices
  logits = IndexPredictor(transmitted indices known, features, v_index) -> argmax elsewhere
  output = CorrectedDecoder(codebook(index map), features)
The tokenizer is a diffusers `VQModel` (a public VQGAN in the full recipe, a small one trained here),
so its encoder/codebook/decoder are the library's; everything else is in the modules next to this one.
"""

from __future__ import annotations

import torch
from torch import nn

from rdpbench.models.hdcompression.correction import CorrectedDecoder, LICFeatures
from rdpbench.models.hdcompression.drv import DRVExtractor, DRVs, DRVSampler, LICEnhancer
from rdpbench.models.hdcompression.predictor import IndexPredictor

#: the modules each training stage trains (state_dict prefixes); what a stage's weight file holds
STAGE_MODULES = {
    "tokenizer": ("tokenizer.",),
    "enhancement": ("extractor.", "enhancer."),
    "drv": ("sampler.",),
    "predictor": ("features.", "predictor.", "correction.", "tokenizer.decoder.", "tokenizer.post_quant_conv."),
}
STAGES = tuple(STAGE_MODULES)


class HDCNet(nn.Module):
    def __init__(self, tokenizer: nn.Module, *, drv_dim: int = 32, drv_width: int = 64, drv_steps: int = 4,
                 drv_beta: tuple[float, float] = (0.1, 0.99), enhancer_width: int = 32, enhancer_blocks: int = 3,
                 feature_widths: tuple[int, ...] = (16, 32, 64, 96), predictor_dim: int = 128,
                 predictor_layers: int = 4, heads: int = 4, predictor_window: int = 16) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.factor = 2 ** (len(tokenizer.config.block_out_channels) - 1)
        if len(feature_widths) != self.factor.bit_length() - 1:
            raise ValueError(f"feature_widths needs one width per halving of the tokenizer (factor {self.factor})")
        self.extractor = DRVExtractor(drv_dim, drv_width, tokenizer.config.num_vq_embeddings, len(feature_widths))
        self.sampler = DRVSampler(drv_dim, drv_width, drv_steps, *drv_beta)
        self.enhancer = LICEnhancer(drv_dim, enhancer_width, enhancer_blocks)
        self.features = LICFeatures(tuple(feature_widths))
        self.predictor = IndexPredictor(tokenizer.config.num_vq_embeddings, feature_widths[-1], drv_dim,
                                        predictor_dim, predictor_layers, heads, predictor_window)
        self.correction = CorrectedDecoder(tokenizer, self.features.channels)

    @property
    def codebook_size(self) -> int:
        return int(self.tokenizer.config.num_vq_embeddings)

    def stage_parameters(self, stage: str) -> list[nn.Parameter]:
        prefixes = STAGE_MODULES[stage]
        return [p for name, p in self.named_parameters() if name.startswith(prefixes)]

    # --- the tokenizer -------------------------------------------------------------------
    def tokenizer_latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.encode(x * 2 - 1).latents

    def indices(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H/f, W/f) codebook indices of x in [0, 1] (H, W multiples of f)."""
        latent = self.tokenizer_latent(x)
        flat = self.tokenizer.quantize(latent)[2][2]
        return flat.view(latent.shape[0], *latent.shape[2:])

    def codebook(self, indices: torch.Tensor) -> torch.Tensor:
        """z_q (B, embed, h, w) of an index map."""
        shape = (*indices.shape, self.tokenizer.quantize.vq_embed_dim)
        return self.tokenizer.quantize.get_codebook_entry(indices.reshape(-1), shape)

    # --- the decoder-side pipeline (also what training runs) -----------------------------------
    def lic_branch(self, x_hat: torch.Tensor, seed: int) -> tuple[torch.Tensor, DRVs]:
        """(x_hat_lic, the sampled DRVs) from the LIC output alone."""
        drvs = self.sampler(x_hat, seed)
        return self.enhancer(x_hat, drvs.lic), drvs

    def logits(self, indices: torch.Tensor, known: torch.Tensor, features: list[torch.Tensor],
               v_index: torch.Tensor | None) -> torch.Tensor:
        return self.predictor(indices, known, features[-1], v_index)

    def reconstruct(self, indices: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        return self.correction(self.codebook(indices), features)
