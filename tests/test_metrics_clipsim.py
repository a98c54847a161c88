"""CLIPSim through the real loading path: a random ViT-B-32 saved as the Hugging Face hub
snapshot open_clip would download for ('ViT-B-32', 'openai'), found offline, and parity
with a direct open_clip call on the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdpbench.errors import ConfigError, WeightsError
from rdpbench.metrics import clipsim
from rdpbench.metrics.base import create_metric, metric_direction
from rdpbench.metrics.random_weights import random_weight_cache

@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    with random_weight_cache(tmp_path_factory.mktemp("cache"), clip=True) as root:
        yield root


@pytest.fixture(scope="module")
def images(kodak_root: Path) -> tuple[np.ndarray, np.ndarray]:
    load = lambda name: np.asarray(Image.open(kodak_root / "kodak" / name).convert("RGB"))[:256, :384]  # noqa: E731
    return load("kodim23.png"), load("kodim01.png")


@pytest.fixture(scope="module")
def metric(cache):
    return create_metric("clipsim", device="cpu")


def test_checkpoint_is_found_in_the_hf_cache(cache) -> None:
    path = clipsim.resolve_checkpoint("ViT-B-32", "openai")
    assert path.name == "open_clip_model.safetensors"
    assert "models--timm--vit_base_patch32_clip_224.openai" in str(path) and cache in path.parents


def test_clipsim_equals_open_clip_and_is_one_on_itself(metric, images) -> None:
    import open_clip

    ref, other = images
    path = clipsim.resolve_checkpoint("ViT-B-32", "openai")
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=str(path),
                                                                 force_quick_gelu=True)
    with torch.no_grad():
        emb = model.eval().encode_image(torch.stack([preprocess(Image.fromarray(i)) for i in (ref, other)]))
    expected = float(torch.nn.functional.cosine_similarity(emb[:1], emb[1:]))
    assert metric(ref, other) == pytest.approx(expected, abs=1e-5)
    assert metric(ref, ref) == pytest.approx(1.0, abs=1e-5)
    assert metric(ref, other) < 1 - 1e-4
    assert metric_direction("clipsim") is True
    assert "ViT-B-32 'openai'" in metric.implementation and "224px" in metric.implementation


def test_local_checkpoint_option_and_bad_names(cache, images, tmp_path) -> None:
    ref, _ = images
    with pytest.raises(WeightsError, match="nope.safetensors does not exist"):
        create_metric("clipsim", checkpoint=str(tmp_path / "nope.safetensors"))
    with pytest.raises(ConfigError, match="no pretrained tag 'bogus'"):
        create_metric("clipsim", pretrained="bogus")
    path = clipsim.resolve_checkpoint("ViT-B-32", "openai")
    assert create_metric("clipsim", checkpoint=str(path), device="cpu")(ref, ref) == pytest.approx(1.0, abs=1e-5)
