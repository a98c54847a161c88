"""FID/KID on 256 px patches: patch protocol, torch-fidelity loading path (random InceptionV3
written where torch.hub keeps the official file), parity with torch_fidelity.calculate_metrics
on the same patches, and the honest 'too few patches' answer on Kodak-sized data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdpbench.metrics.base import create_metric, metric_direction
from rdpbench.metrics.fid import patches
from rdpbench.metrics.random_weights import random_weight_cache
from rdpbench.metrics.weight_files import INCEPTION_FID

def test_patch_grids_follow_hific_protocol() -> None:
    image = np.random.default_rng(0).integers(0, 256, (512, 768, 3), dtype=np.uint8)  # Kodak landscape size
    cut = patches(image)
    assert cut.shape == (6 + 2, 256, 256, 3)  # 2x3 aligned + 1x2 shifted by 128
    assert np.array_equal(cut[5], image[256:512, 512:768])
    assert np.array_equal(cut[6], image[128:384, 128:384]) and np.array_equal(cut[7], image[128:384, 384:640])
    assert len(patches(image[:300, :300])) == 1  # < 1.5 patches: no shifted grid
    assert len(patches(image[:200])) == 0


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    with random_weight_cache(tmp_path_factory.mktemp("cache"), hub=("inception",)) as root:
        yield root


@pytest.fixture(scope="module")
def data(kodak_root: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three 256x256 Kodak crops (one patch each: InceptionV3 is ~1 s/patch on a busy CPU) and noisy copies."""
    rng = np.random.default_rng(0)
    refs = [np.asarray(Image.open(kodak_root / "kodak" / f"kodim{i:02d}.png").convert("RGB"))[:256, :256]
            for i in (3, 19, 23)]
    recs = [np.clip(r + rng.normal(0, 20, r.shape), 0, 255).astype(np.uint8) for r in refs]
    return refs, recs


def run(metric, refs, recs):
    metric.reset()
    for ref, rec in zip(refs, recs):
        metric.update(ref, rec)
    return metric.compute()


def test_kid_equals_torch_fidelity_on_the_same_patches(cache, data) -> None:
    """End-to-end parity of patches + features + estimator (KID: cheap; FID shares the features)."""
    import torch_fidelity

    class Patches(torch.utils.data.Dataset):
        def __init__(self, images):
            self.items = torch.from_numpy(np.concatenate([patches(i) for i in images])).permute(0, 3, 1, 2)

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    refs, recs = data
    kid = create_metric("kid", subset_size=3, subsets=4, device="cpu")
    value, reason = run(kid, refs, recs)
    assert reason == "" and kid.n_patches == 3
    expected = torch_fidelity.calculate_metrics(
        input1=Patches(refs), input2=Patches(recs), kid=True, kid_subset_size=3, kid_subsets=4,
        cuda=False, verbose=False, save_cpu_ram=True, feature_extractor_weights_path=str(INCEPTION_FID.path))
    assert value == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-6)
    assert value != 0  # features are not degenerate (KID of 3 patches may be negative: unbiased estimator)
    assert metric_direction("kid") is False


def test_fid_of_identical_sets_is_zero(cache, data) -> None:
    """One FID evaluation only: torch-fidelity's 2048x2048 eigvals takes ~10-20 s on a busy 2-core CPU."""
    refs, _ = data
    fid = create_metric("fid", min_patches=3, device="cpu")
    value, reason = run(fid, refs, refs)
    real, _ = fid.features()
    scale = float(real.var(dim=0).sum())  # trace of the covariance: the size FID is measured against
    assert reason == "" and scale > 0
    assert abs(value) < 1e-4 * scale
    assert "torch-fidelity 0.4.0" in fid.implementation and "FID/256" in fid.implementation
    assert metric_direction("fid") is False


def test_too_few_patches_gives_no_value_and_says_why(cache, kodak_root: Path) -> None:
    """Kodak gives 8 patches per image (see the grid test), 192 in all; a 384 px crop keeps this test fast."""
    crop = [np.asarray(Image.open(kodak_root / "kodak" / "kodim01.png").convert("RGB"))[:384, :384]]
    value, reason = run(create_metric("fid", device="cpu"), crop, crop)
    assert value is None
    assert "only 2 256x256 patches" in reason and "fid needs >= 2048" in reason
