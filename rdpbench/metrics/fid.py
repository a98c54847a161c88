"""FID/256 and KID/256 over a dataset, the way HiFiC (Mentzer et al. 2020), MS-ILLM and
NeuralCompression's `update_patch_fid` compute them for few, large images.

Each image is cut into non-overlapping 256x256 patches, plus a second grid shifted by
128 px in both axes when both sides are >= 384 px; every patch is one sample for
torch-fidelity's InceptionV3 (pool3, 2048-d), and FID/KID are torch-fidelity's own
formulas on those features. Only the patch cutting is ours (torch-fidelity takes whole
images). A dataset with too few patches (Kodak gives 192) yields no value, with the reason.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.device import torch_device
from rdpbench.metrics.base import DatasetMetric, register_metric
from rdpbench.metrics.torch_image import check_pair, library_version, require_module, to_uint8_batch
from rdpbench.metrics.weight_files import INCEPTION_FID, ensure_hub_file

PATCH = 256
FEATURE_DIM = 2048


def patches(image: np.ndarray, size: int = PATCH) -> np.ndarray:
    """Nxsizexsizex3: the aligned grid, then the half-shifted grid where the image allows (>= 1.5 size)."""
    height, width = image.shape[:2]
    grids = [(0, 0)] + ([(size // 2, size // 2)] if height >= 1.5 * size and width >= 1.5 * size else [])
    out = [image[top:top + size, left:left + size]
           for dy, dx in grids
           for top in range(dy, height - size + 1, size)
           for left in range(dx, width - size + 1, size)]
    return np.stack(out) if out else np.empty((0, size, size, 3), np.uint8)


@lru_cache(maxsize=2)
def inception(weights: str, device: str) -> Any:
    """torch-fidelity's InceptionV3 from a local file, shared by FID and KID of one run."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3("inception-v3-compat", [str(FEATURE_DIM)],
                                       feature_extractor_weights_path=weights).to(device).eval()


class PatchInceptionMetric(DatasetMetric):
    """Collects InceptionV3 features of reference and reconstruction patches; subclasses reduce them."""

    higher_is_better = False

    def __init__(self, min_patches: int, device: str = "cpu", batch_size: int = 16) -> None:
        require_module("torch_fidelity", self.name, "torch-fidelity")
        self.fetch_weights()
        self.device = torch_device(device, f"metric {self.name!r}")
        self.batch_size = batch_size
        self.min_patches = min_patches
        self.extractor = inception(str(INCEPTION_FID.path), str(self.device))
        self.reset()

    @classmethod
    def fetch_weights(cls, **_: Any) -> list[Path]:
        return [ensure_hub_file(INCEPTION_FID, cls.name)]

    def reset(self) -> None:
        self.real: list[Any] = []
        self.fake: list[Any] = []

    def _features(self, batch: np.ndarray) -> Any:
        import torch

        with torch.inference_mode():
            return torch.cat([self.extractor(to_uint8_batch(batch[i:i + self.batch_size], self.device))[0].cpu()
                              for i in range(0, len(batch), self.batch_size)])

    def update(self, reference: np.ndarray, reconstruction: np.ndarray) -> None:
        check_pair(reference, reconstruction)
        real, fake = patches(reference), patches(reconstruction)
        if len(real):
            self.real.append(self._features(real))
            self.fake.append(self._features(fake))

    @property
    def n_patches(self) -> int:
        return sum(len(f) for f in self.real)

    def features(self) -> tuple[Any, Any] | None:
        import torch

        return (torch.cat(self.real), torch.cat(self.fake)) if self.real else None

    def too_few(self) -> str:
        return (f"only {self.n_patches} {PATCH}x{PATCH} patches in this dataset, {self.name} needs >= "
                f"{self.min_patches} (use a dataset of larger/more images, e.g. CLIC2020 or DIV2K)")

    def _describe(self, statistic: str) -> str:
        return (f"{statistic}/{PATCH} patches, HiFiC/NeuralCompression protocol (aligned + half-shifted grids); "
                f"torch-fidelity {library_version('torch-fidelity')} InceptionV3 pool3 2048-d "
                f"({INCEPTION_FID.filename})")


@register_metric("fid")
class FID(PatchInceptionMetric):
    """Needs >= 2048 patches by default: below the feature dimension the covariance is singular."""

    name = "fid"

    def __init__(self, min_patches: int = FEATURE_DIM, device: str = "cpu", batch_size: int = 16) -> None:
        super().__init__(min_patches=min_patches, device=device, batch_size=batch_size)

    @property
    def implementation(self) -> str:
        return self._describe("FID")

    def compute(self) -> tuple[float | None, str]:
        from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

        features = self.features()
        if features is None or self.n_patches < self.min_patches:
            return None, self.too_few()
        real, fake = (fid_features_to_statistics(f) for f in features)
        return float(fid_statistics_to_metric(real, fake, verbose=False)[KEY_METRIC_FID]), ""


@register_metric("kid")
class KID(PatchInceptionMetric):
    """Mean over `subsets` random subsets of `subset_size` patches (torch-fidelity's estimator and defaults)."""

    name = "kid"

    def __init__(self, subset_size: int = 1000, subsets: int = 100, seed: int = 2020, device: str = "cpu",
                 batch_size: int = 16) -> None:
        super().__init__(min_patches=subset_size, device=device, batch_size=batch_size)
        self.subset_size, self.subsets, self.seed = subset_size, subsets, seed

    @property
    def implementation(self) -> str:
        return self._describe(f"KID (poly kernel, {self.subsets} subsets of {self.subset_size})")

    def compute(self) -> tuple[float | None, str]:
        from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

        features = self.features()
        if features is None or self.n_patches < self.min_patches:
            return None, self.too_few()
        result = kid_features_to_metric(*features, kid_subsets=self.subsets, kid_subset_size=self.subset_size,
                                        rng_seed=self.seed, verbose=False)
        return float(result[KEY_METRIC_KID_MEAN]), ""
