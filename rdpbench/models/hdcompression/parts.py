"""The tokenizer of an HDCompression network (a Hydra `_target_` in the network spec) and the network
builder: a small diffusers `VQModel` trained here offline, or a public VQGAN in the full recipe."""

from __future__ import annotations

from typing import Any

from torch import nn

from rdpbench.errors import WeightsError


def small_tokenizer(block_out_channels: tuple[int, ...] = (32, 64, 64, 128, 128), layers_per_block: int = 1,
                    latent_channels: int = 16, num_vq_embeddings: int = 256, norm_num_groups: int = 16,
                    mid_block_add_attention: bool = True) -> nn.Module:
    """A VQGAN-style `VQModel` with f = 2^(len(block_out_channels) - 1), trained by the tokenizer stage."""
    from diffusers import VQModel

    n = len(block_out_channels)
    return VQModel(block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
                   down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                   latent_channels=latent_channels, num_vq_embeddings=num_vq_embeddings,
                   norm_num_groups=norm_num_groups, mid_block_add_attention=mid_block_add_attention)


def pretrained_tokenizer(model: str, subfolder: str | None = "vqvae", revision: str | None = None) -> nn.Module:
    """A public VQGAN in diffusers layout (e.g. aMUSEd's f16, 8192 codes), hub id or local directory."""
    from diffusers import VQModel

    from rdpbench.weights import configure_library_caches, offline

    configure_library_caches()
    try:
        return VQModel.from_pretrained(model, subfolder=subfolder, revision=revision, local_files_only=offline())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"hdcompression tokenizer: cannot load {model!r} (subfolder {subfolder!r}): {exc}; fetch "
                           f"it with `hf download {model} --include '{subfolder or ''}/*'`, or use the shipped "
                           f"offline model (codec=hdcompression)") from exc


def build_network(spec: dict[str, Any]) -> Any:
    """HDCNet from a network spec: `tokenizer` (a `_target_` of the functions above) and `dims`."""
    from hydra.utils import instantiate

    from rdpbench.models.hdcompression.network import HDCNet

    dims = dict(spec.get("dims", {}))
    for key in ("feature_widths", "drv_beta"):
        if key in dims:
            dims[key] = tuple(dims[key])
    return HDCNet(instantiate(spec["tokenizer"]), **dims)
