"""`jpeg_compressai` reproduces the JPEG curve papers cite (CompressAI's bench on Kodak), header apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir

from rdpbench.data.images import load_image
from rdpbench.runners.tasks import build_codec

REPO = Path(__file__).resolve().parents[1]
QUALITIES = (5, 10, 25, 50, 95)  # CompressAI's Kodak jpeg.json holds q = 5, 10, ..., 95 in order


def codec(name: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return build_codec(compose(config_name="config", overrides=[f"codec={name}"]).codec)


def test_compressai_recipe_matches_the_published_kodak_bpp(kodak_root):
    published = pd.read_csv(REPO / "results" / "published" / "compressai.csv")
    published = published[(published.dataset == "kodak") & (published.codec == "jpeg")].reset_index(drop=True)
    reference, tuned = codec("jpeg_compressai"), codec("jpeg")
    assert [op["quality"] for op in reference.operating_points()] == list(range(5, 100, 5)) == \
        [5 * (i + 1) for i in range(len(published))]
    images = [load_image(p)[0] for p in sorted((kodak_root / "kodak").glob("kodim*.png"))]
    assert len(images) == 24
    for quality in QUALITIES:
        payload, header, smaller = [], [], []
        for image in images:
            stream = reference.encode(image, {"quality": quality})
            sections = reference.sections(stream)
            pixels = image.shape[0] * image.shape[1]
            payload.append(8 * (len(stream) - sections["header"]) / pixels)
            header.append(sections["header"])
            smaller.append(8 * len(tuned.encode(image, {"quality": quality})) / pixels)
        expected = published.loc[quality // 5 - 1, "bpp"]
        assert abs(np.mean(payload) / expected - 1) < 0.003, (quality, np.mean(payload), expected)
        assert 0 < max(header) <= 12  # our header, counted and reported apart (`header_bytes`)
        if quality <= 10:  # optimised Huffman tables: the tuned `jpeg` spends far fewer bits at low quality
            assert np.mean(smaller) < 0.85 * np.mean(payload)
