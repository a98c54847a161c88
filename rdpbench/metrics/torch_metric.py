"""Shared call path of the per-image learned metrics (LPIPS, DISTS, CLIPSim, piq).

One place decides device, dtype, no-grad and tiling, so the metrics differ only in the
library call they wrap.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from rdpbench.device import torch_device
from rdpbench.metrics.base import Metric
from rdpbench.metrics.torch_image import check_pair, to_unit_tensor
from rdpbench.tiles import disjoint_boxes


class TorchPairMetric(Metric):
    """A full-reference metric computed by a torch network on [0, 1] RGB tensors.

    `tile` bounds memory on large images: when set and the image is larger, the score is
    the area-weighted mean over non-overlapping tiles of at most tile x tile pixels
    (an approximation, named in `implementation`). None = exact full-resolution score.
    """

    def __init__(self, device: str = "cpu", dtype: str = "float32", tile: int | None = None) -> None:
        import torch

        self.device = torch_device(device, f"metric {self.name!r}")
        self.dtype = getattr(torch, dtype)
        self.tile = tile

    @property
    def implementation(self) -> str:
        base = self.describe()
        return f"{base}; tiled {self.tile}px area-weighted" if self.tile else f"{base}; full resolution"

    @abstractmethod
    def describe(self) -> str:
        """Library, variant and version (without the tiling note)."""

    @abstractmethod
    def score(self, reference: Any, reconstruction: Any) -> float:
        """Score two 1x3xHxW tensors in [0, 1] (already under inference mode)."""

    def __call__(self, reference: np.ndarray, reconstruction: np.ndarray) -> float:
        import torch

        check_pair(reference, reconstruction)
        height, width = reference.shape[:2]
        boxes = ([(0, 0, height, width)] if not self.tile or max(height, width) <= self.tile
                 else disjoint_boxes(height, width, self.tile))
        total = 0.0
        with torch.inference_mode():
            for top, left, h, w in boxes:
                ref = to_unit_tensor(reference[top:top + h, left:left + w], self.device, self.dtype)
                rec = to_unit_tensor(reconstruction[top:top + h, left:left + w], self.device, self.dtype)
                total += self.score(ref, rec) * (h * w)
        return total / (height * width)
