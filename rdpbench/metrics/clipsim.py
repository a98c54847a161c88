"""CLIPSim: cosine similarity of the CLIP image embeddings of original and reconstruction.

Model and weights come from open_clip (default ViT-B-32 'openai', the OpenAI CLIP weights,
which open_clip fetches from the Hugging Face hub repo timm/vit_base_patch32_clip_224.openai).
We resolve the checkpoint ourselves - HF cache lookup without network, download only when
online - and hand open_clip the local file, so offline runs never wait on the hub.
Resize: open_clip's own validation preprocessing for the tag (shorter side to the model's
input size, bicubic, then centre crop), applied identically to both images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.device import resolve_device
from rdpbench.errors import ConfigError, WeightsError
from rdpbench.metrics.base import Metric, register_metric
from rdpbench.metrics.torch_image import check_pair, library_version, require_module
from rdpbench.metrics.weight_files import fetch_command
from rdpbench.weights import configure_library_caches, offline

NAME = "clipsim"


def hf_cache() -> Path:
    """The Hugging Face hub cache inside rdpbench's cache (HF_HOME/hub)."""
    configure_library_caches()
    return Path(os.environ["HF_HOME"]) / "hub"


def _hub_candidates(hf_hub: str) -> tuple[str, list[str]]:
    """open_clip's 'org/repo/[filename]' convention -> repo id and the files it would try, safetensors first."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    repo_id, filename = os.path.split(hf_hub)
    if not filename:
        return repo_id, [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
    stem, ext = os.path.splitext(filename)
    return repo_id, ([f"{stem}.safetensors"] if ext in (".bin", ".pth") else []) + [filename]


def _cached(repo_id: str, filenames: list[str]) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hf_cache()))
        if isinstance(found, str):
            return Path(found)
    return None


def resolve_checkpoint(model: str, pretrained: str, checkpoint: str | None = None) -> Path:
    """Local file holding the weights for (model, pretrained); downloads only when online."""
    open_clip = require_module("open_clip", NAME, "open_clip_torch")
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsError(f"metric '{NAME}': checkpoint {path} does not exist")
        return path
    cfg = open_clip.get_pretrained_cfg(model, pretrained)
    if not cfg:
        raise ConfigError(f"{NAME}: open_clip has no pretrained tag {pretrained!r} for {model!r}; "
                          f"known: {open_clip.list_pretrained_tags_by_model(model)}")
    if cfg.get("hf_hub"):
        repo_id, filenames = _hub_candidates(cfg["hf_hub"])
        found, source = _cached(repo_id, filenames), f"Hugging Face repo {repo_id} ({' or '.join(filenames)})"
    else:
        url_cache = hf_cache().parent / "open_clip"
        local = url_cache / os.path.basename(cfg["url"])
        found, source = (local if local.is_file() else None), cfg["url"]
    if found is not None:
        return found
    if offline():
        raise WeightsError(f"metric '{NAME}' ({model} '{pretrained}'): weights from {source} are not in the cache "
                           f"{hf_cache()} and RDPBENCH_OFFLINE is set. Either fetch them on a machine with network "
                           f"({fetch_command(NAME)}) and copy {hf_cache().parent} to the same place here, "
                           f"or pass checkpoint=/path/to/weights to the metric")
    try:
        cache = hf_cache() if cfg.get("hf_hub") else hf_cache().parent / "open_clip"
        return Path(open_clip.download_pretrained(cfg, cache_dir=str(cache)))
    except Exception as exc:  # hub/URL client errors vary by version; all mean "could not fetch"
        raise WeightsError(f"metric '{NAME}': cannot download {source}: {exc}") from exc


@register_metric(NAME)
class CLIPSim(Metric):
    name = NAME
    higher_is_better = True
    label = "CLIPSim"

    def __init__(self, model: str = "ViT-B-32", pretrained: str = "openai", checkpoint: str | None = None,
                 device: str = "auto", dtype: str = "float32") -> None:
        import torch

        open_clip = require_module("open_clip", NAME, "open_clip_torch")
        path = resolve_checkpoint(model, pretrained, checkpoint)
        cfg = open_clip.get_pretrained_cfg(model, pretrained)
        self.device = resolve_device(device)
        self.model_name = model
        self.weights = f"checkpoint {path.name}" if checkpoint else f"'{pretrained}'"
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            model, pretrained=str(path), device=self.device, force_quick_gelu=bool(cfg.get("quick_gelu", False)),
            image_mean=cfg.get("mean"), image_std=cfg.get("std"), image_interpolation=cfg.get("interpolation"),
            image_resize_mode=cfg.get("resize_mode"))
        self.model = self.model.to(dtype=getattr(torch, dtype)).eval()
        self.dtype = getattr(torch, dtype)

    @classmethod
    def fetch_weights(cls, model: str = "ViT-B-32", pretrained: str = "openai", checkpoint: str | None = None,
                      **_: Any) -> list[Path]:
        return [resolve_checkpoint(model, pretrained, checkpoint)]

    @property
    def implementation(self) -> str:
        size = self.model.visual.image_size
        return (f"CLIPSim cosine of image embeddings (open_clip {library_version('open_clip_torch')} "
                f"{self.model_name} {self.weights}; open_clip val preprocess: shorter side to "
                f"{size[0] if isinstance(size, tuple) else size}px bicubic + centre crop)")

    def embed(self, images: list[np.ndarray]) -> Any:
        """L2-normalised image embeddings, one row per image (both images in one batch)."""
        import torch
        from PIL import Image

        batch = torch.stack([self.preprocess(Image.fromarray(image)) for image in images])
        with torch.inference_mode():
            features = self.model.encode_image(batch.to(self.device, self.dtype))
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def __call__(self, reference: np.ndarray, reconstruction: np.ndarray) -> float:
        check_pair(reference, reconstruction)
        embeddings = self.embed([reference, reconstruction])
        return float((embeddings[0] * embeddings[1]).sum().item())
