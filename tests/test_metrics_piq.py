"""Weight-free piq metrics: registered with the right direction, ideal value on identical
images, worse on a distorted one, and equal to a direct piq call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdpbench.metrics.base import create_metric, metric_direction
from rdpbench.metrics.piq_metrics import PIQ_METRICS

@pytest.fixture(scope="module")
def pair(kodak_root: Path) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(Image.open(kodak_root / "kodak" / "kodim07.png").convert("RGB"))[100:292, 100:356]
    noisy = ref.astype(float) + np.random.default_rng(2).normal(0, 15, ref.shape)
    return ref, np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(PIQ_METRICS))
def test_piq_metric(name: str, pair) -> None:
    import piq

    ref, rec = pair
    function, higher_is_better, _ = PIQ_METRICS[name]
    metric = create_metric(name, device="cpu")
    assert metric_direction(name) is higher_is_better
    unit = lambda a: torch.tensor(a, dtype=torch.float32).permute(2, 0, 1)[None] / 255  # noqa: E731
    expected = float(getattr(piq, function)(unit(rec), unit(ref), data_range=1.0))
    score, ideal = metric(ref, rec), metric(ref, ref)
    assert score == pytest.approx(expected, abs=1e-6)
    assert ideal == pytest.approx(1.0 if higher_is_better else 0.0, abs=1e-4)
    assert (score < ideal) if higher_is_better else (score > ideal)
    assert f"piq 0.8.0 {function}" in metric.implementation


def test_piq_options_reach_the_function(pair) -> None:
    ref, rec = pair
    plain, chromatic = create_metric("ms_gmsd", device="cpu"), create_metric("ms_gmsd", device="cpu", chromatic=True)
    assert chromatic(ref, rec) != pytest.approx(plain(ref, rec), abs=1e-6)
    assert "chromatic=True" in chromatic.implementation
