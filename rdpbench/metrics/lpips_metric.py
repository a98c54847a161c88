"""LPIPS (Zhang et al. 2018) through the `lpips` package, the reference implementation.

lpips ships its linear-layer weights (lpips/weights/v0.1/<net>.pth) but builds the
backbone with torchvision's pretrained AlexNet/VGG16, i.e. a torch.hub download; we make
sure that file is in the cache first (see weight_files) and then let lpips load it itself.
Inputs are [0, 1] with normalize=True (lpips maps them to [-1, 1]), at full resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rdpbench.errors import ConfigError, WeightsError
from rdpbench.metrics.base import register_metric
from rdpbench.metrics.torch_image import library_version, quiet_legacy_torchvision, require_module
from rdpbench.metrics.torch_metric import TorchPairMetric
from rdpbench.metrics.weight_files import ALEXNET, VGG16, HubFile, ensure_hub_file

BACKBONES: dict[str, HubFile] = {"alex": ALEXNET, "vgg": VGG16}
BACKBONE_NAMES = {"alex": "AlexNet", "vgg": "VGG16"}
VERSION = "0.1"


def _linear_weights(lpips_module: Any, net: str) -> Path:
    return Path(lpips_module.__file__).parent / "weights" / f"v{VERSION}" / f"{net}.pth"


@register_metric("lpips")
class LPIPS(TorchPairMetric):
    name = "lpips"
    higher_is_better = False

    def __init__(self, net: str = "alex", device: str = "cpu", dtype: str = "float32",
                 tile: int | None = None) -> None:
        if net not in BACKBONES:
            raise ConfigError(f"lpips: net must be one of {sorted(BACKBONES)}, got {net!r}")
        lpips = require_module("lpips", self.name, "lpips")
        self.fetch_weights(net=net)
        linear = _linear_weights(lpips, net)
        if not linear.exists():
            raise WeightsError(f"metric 'lpips': the lpips package's linear weights {linear} are missing; "
                               f"reinstall it: pip install --force-reinstall lpips=={library_version('lpips')}")
        super().__init__(device=device, dtype=dtype, tile=tile)
        self.net = net
        with quiet_legacy_torchvision():
            self.model = lpips.LPIPS(net=net, version=VERSION, verbose=False).to(self.device, self.dtype).eval()

    @classmethod
    def fetch_weights(cls, net: str = "alex", **_: Any) -> list[Path]:
        return [ensure_hub_file(BACKBONES[net], cls.name)]

    def describe(self) -> str:
        return (f"LPIPS v{VERSION} {BACKBONE_NAMES[self.net]} (lpips {library_version('lpips')}, "
                f"torchvision {BACKBONES[self.net].filename})")

    def score(self, reference: Any, reconstruction: Any) -> float:
        return float(self.model(reference, reconstruction, normalize=True).item())
