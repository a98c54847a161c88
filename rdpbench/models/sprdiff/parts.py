"""The frozen parts of an SPRDiff network, each from its own pinned source (Hydra `_target_`s in the
network config): the distortion-oriented base codec, the diffusion snapshot (VAE + UNet + scheduler)
and the optional semantic encoder. Loading goes through rdpbench's existing loaders, so the shipped
`ultralow` and mini-ldm files are checked against their SHA-256 and offline misses say what to fetch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rdpbench.diffusion.diffusers_backend import DiffusionComponents
from rdpbench.errors import WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def ultralow_base(device: str = "cpu") -> nn.Module:
    """The shipped `ultralow` mean-scale hyperprior (SHA-256 checked), the offline distortion encoder."""
    from rdpbench.codecs.trained import UltraLow

    return UltraLow(device=device).load_net({})


def zoo_base(architecture: str = "mbt2018-mean", quality: int = 1, metric: str = "mse") -> nn.Module:
    """A CompressAI zoo mean-scale hyperprior (the full recipe's MSE-trained distortion encoder)."""
    from compressai.zoo.image import model_architectures
    from compressai.zoo.pretrained import load_pretrained

    from rdpbench.codecs.compressai_zoo import zoo_checkpoint
    from rdpbench.codecs.learned import load_checkpoint

    path = zoo_checkpoint(architecture, metric, quality)
    state = load_pretrained(load_checkpoint(path, f"sprdiff base {architecture}"))
    return model_architectures[architecture].from_state_dict(state)


def random_base(N: int = 16, M: int = 24) -> nn.Module:  # noqa: N803 (CompressAI's names)
    """A random-weight mean-scale hyperprior in the real layout (tests of the full recipe)."""
    from compressai.models import MeanScaleHyperprior

    torch.manual_seed(0)
    return MeanScaleHyperprior(N=N, M=M)


def diffusion_parts(model: str | None = None, revision: str | None = None, device: str = "cpu",
                    dtype: str = "float32") -> DiffusionComponents:
    """VAE, UNet and scheduler of a diffusers snapshot (hub id or local dir); None: the shipped mini-ldm."""
    from rdpbench.diffusion.diffusers_backend import DiffusersDenoiser
    from rdpbench.diffusion.mini_ldm import MiniLDMDenoiser

    if model is None:
        return MiniLDMDenoiser(device=device, dtype=dtype).parts
    return DiffusersDenoiser(model=model, revision=revision, device=device, dtype=dtype).parts


class DinoV2Features(nn.Module):
    """A DINOv2 image encoder (transformers) as a feature map: x in [0, 1] -> (B, hidden, H/14, W/14)."""

    def __init__(self, model: str = "facebook/dinov2-small", revision: str | None = None) -> None:
        super().__init__()
        from transformers import AutoModel

        from rdpbench.weights import configure_library_caches, offline

        configure_library_caches()
        try:
            self.model = AutoModel.from_pretrained(model, revision=revision, local_files_only=offline())
        except OSError as exc:
            raise WeightsError(f"sprdiff semantic encoder: cannot load {model!r} ({exc}); fetch it with "
                               f"`hf download {model}`, or use the offline variant without the semantic "
                               f"branch (codec=sprdiff, the shipped model)") from exc
        self.patch = int(self.model.config.patch_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def channels(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = (max(self.patch, s // self.patch * self.patch) for s in x.shape[-2:])
        x = nn.functional.interpolate((x - self.mean) / self.std, size=(h, w), mode="bilinear", align_corners=False)
        tokens = self.model(pixel_values=x).last_hidden_state[:, 1:]  # drop the CLS token
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, h // self.patch, w // self.patch)


def build_network(spec: dict[str, Any], device: str) -> tuple[Any, Any]:
    """(SPRDiffNet, scheduler) from a network spec: `base`, `diffusion`, `semantic` (null: no semantic
    branch) as Hydra `_target_`s of the functions above, plus the trainable parts' sizes (`dims`)."""
    from hydra.utils import instantiate

    from rdpbench.models.sprdiff.network import SPRDiffNet

    diffusion = instantiate(spec["diffusion"], device=device)
    semantic = instantiate(spec["semantic"]) if spec.get("semantic") else None
    net = SPRDiffNet(instantiate(spec["base"]), diffusion.vae, diffusion.unet, semantic,
                     semantic_channels=semantic.channels if semantic is not None else 0, **spec.get("dims", {}))
    return net.to(device), diffusion.scheduler
