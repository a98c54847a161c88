"""Weight-free full-reference perceptual metrics from piq: cheap, offline, no downloads.

Only piq functions that need no learned weights are exposed (piq's LPIPS, DISTS, PieAPP
and BRISQUE download weights; we use the reference packages for the first two instead).
Each is registered under its own name with its direction; extra options go straight to
the piq function (e.g. chromatic=True for ms_gmsd) and are named in `implementation`.
"""

from __future__ import annotations

from typing import Any

from rdpbench.metrics.base import register_metric
from rdpbench.metrics.torch_image import library_version, require_module
from rdpbench.metrics.torch_metric import TorchPairMetric

# registry name -> (piq function, higher_is_better, what it is)
PIQ_METRICS: dict[str, tuple[str, bool, str]] = {
    "gmsd": ("gmsd", False, "GMSD"),
    "ms_gmsd": ("multi_scale_gmsd", False, "MS-GMSD"),
    "haarpsi": ("haarpsi", True, "HaarPSI"),
    "vsi": ("vsi", True, "VSI"),
    "mdsi": ("mdsi", False, "MDSI"),
    "fsim": ("fsim", True, "FSIMc"),
    "srsim": ("srsim", True, "SR-SIM"),
    "dss": ("dss", True, "DSS"),
    "vif_p": ("vif_p", True, "VIFp"),
}


class PiqMetric(TorchPairMetric):
    """One piq function on [0, 1] RGB tensors (data_range=1)."""

    function: str
    label: str

    def __init__(self, device: str = "cpu", dtype: str = "float32", tile: int | None = None, **options: Any) -> None:
        piq = require_module("piq", self.name, "piq")
        super().__init__(device=device, dtype=dtype, tile=tile)
        self.options = options
        self.fn = getattr(piq, self.function)

    def describe(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.label} (piq {library_version('piq')} {self.function}, data_range=1{extra})"

    def score(self, reference: Any, reconstruction: Any) -> float:
        return float(self.fn(reconstruction, reference, data_range=1.0, **self.options).item())


def _register(name: str, function: str, higher_is_better: bool, label: str) -> type[PiqMetric]:
    cls = type(f"Piq_{name}", (PiqMetric,), {"name": name, "higher_is_better": higher_is_better,
                                             "function": function, "label": label, "__module__": __name__})
    return register_metric(name)(cls)


for _name, (_function, _higher, _label) in PIQ_METRICS.items():
    _register(_name, _function, _higher, _label)
