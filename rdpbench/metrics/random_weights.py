"""Randomly initialised stand-ins for the real weight files, written into the exact cache
layout the real loaders read (torch.hub checkpoints, Hugging Face hub snapshots).

For tests and timing benchmarks on machines that cannot download the real files: the
metrics then run their real loading path, only the numbers are meaningless.
`rdpbench.weights_cli verify` reports such files as 'hash mismatch'.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from unittest import mock

from rdpbench.metrics.weight_files import ALEXNET, INCEPTION_FID, VGG16, HubFile


def _random_inception() -> Any:
    """torch-fidelity's InceptionV3 always loads weights in its constructor; skip that once to get a random one."""
    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as module

    with mock.patch.object(module, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(module.FeatureExtractorInceptionV3, "load_state_dict", return_value=None):
        net = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    # PyTorch's default conv init shrinks activations ~3x per layer: after 40+ layers the pool3
    # features are ~1e-8 and FID/KID degenerate. He init keeps them O(1).
    for conv in (m for m in net.modules() if isinstance(m, torch.nn.Conv2d)):
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    return net


def _builders() -> dict[str, tuple[HubFile, Any]]:
    import torchvision

    return {"alexnet": (ALEXNET, lambda: torchvision.models.alexnet(weights=None)),
            "vgg16": (VGG16, lambda: torchvision.models.vgg16(weights=None)),
            "inception": (INCEPTION_FID, _random_inception)}


HUB_BACKBONES = ("alexnet", "vgg16", "inception")


def write_hub_backbones(names: tuple[str, ...] = HUB_BACKBONES, seed: int = 0) -> list[Path]:
    """Random AlexNet / VGG16 / FID-InceptionV3 state dicts at TORCH_HOME/hub/checkpoints/<official name>."""
    import torch

    torch.manual_seed(seed)
    written = []
    for name in names:
        spec, build = _builders()[name]
        spec.path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(build().state_dict(), spec.path)
        written.append(spec.path)
    return written


def write_hf_clip(hub_cache: Path, model: str = "ViT-B-32", repo_id: str = "timm/vit_base_patch32_clip_224.openai",
                  quick_gelu: bool = True, seed: int = 0) -> Path:
    """A random open_clip model as <hub_cache>/models--org--name/snapshots/<rev>/open_clip_model.safetensors,
    with refs/main pointing at it - the layout huggingface_hub writes."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    revision = "0" * 40
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    clip = open_clip.create_model(model, force_quick_gelu=quick_gelu)
    target = snapshot / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(target))
    return target


@contextmanager
def isolated_cache(root: Path, offline: bool = True) -> Iterator[Path]:
    """Point rdpbench, torch.hub and Hugging Face at a fresh cache under `root` (offline by default)."""
    env = {"RDPBENCH_CACHE": str(root), "TORCH_HOME": str(root / "torch"), "HF_HOME": str(root / "huggingface"),
           "RDPBENCH_OFFLINE": "1" if offline else "0"}
    with mock.patch.dict(os.environ, env):
        yield root


@contextmanager
def random_weight_cache(root: Path, hub: tuple[str, ...] = (), clip: bool = False) -> Iterator[Path]:
    """An isolated offline cache holding random stand-ins for the chosen torch.hub backbones and CLIP."""
    with isolated_cache(root):
        write_hub_backbones(hub)
        if clip:
            write_hf_clip(root / "huggingface" / "hub")
        yield root
