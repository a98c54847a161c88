"""DISTS (Ding et al. 2020) through `DISTS_pytorch`, the authors' package.

DISTS_pytorch builds torchvision's pretrained VGG16 (a torch.hub download, ensured in the
cache first) and reads its alpha/beta weights from `<sys.prefix>/weights.pt`, where its
wheel installs them; both are checked before construction so a missing file is named.
Images are scored at full resolution (the package's optional 256-px resize is not used).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rdpbench.errors import WeightsError
from rdpbench.metrics.base import register_metric
from rdpbench.metrics.torch_image import library_version, quiet_legacy_torchvision, require_module
from rdpbench.metrics.torch_metric import TorchPairMetric
from rdpbench.metrics.weight_files import VGG16, ensure_hub_file


def alpha_beta_weights() -> Path:
    """Where DISTS_pytorch 0.1 loads alpha/beta from (hard-coded in DISTS_pt.py)."""
    return Path(sys.prefix) / "weights.pt"


@register_metric("dists")
class DISTS(TorchPairMetric):
    name = "dists"
    higher_is_better = False

    def __init__(self, device: str = "cpu", dtype: str = "float32", tile: int | None = None) -> None:
        dists_pytorch = require_module("DISTS_pytorch", self.name, "DISTS_pytorch")
        self.fetch_weights()
        if not alpha_beta_weights().exists():
            raise WeightsError(f"metric 'dists': DISTS_pytorch's alpha/beta weights {alpha_beta_weights()} are "
                               f"missing (its wheel installs them under sys.prefix); reinstall it: "
                               f"pip install --force-reinstall DISTS_pytorch=={library_version('DISTS_pytorch')}")
        super().__init__(device=device, dtype=dtype, tile=tile)
        with quiet_legacy_torchvision():
            self.model = dists_pytorch.DISTS().to(self.device, self.dtype).eval()

    @classmethod
    def fetch_weights(cls, **_: Any) -> list[Path]:
        return [ensure_hub_file(VGG16, cls.name)]

    def describe(self) -> str:
        return f"DISTS (DISTS_pytorch {library_version('DISTS_pytorch')}, torchvision {VGG16.filename})"

    def score(self, reference: Any, reconstruction: Any) -> float:
        return float(self.model(reference, reconstruction).item())
