"""The one conversion from the harness's uint8 HxWx3 arrays to the NCHW float tensors the
learned-metric libraries take, so every torch metric sees identical inputs."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np


def check_pair(reference: np.ndarray, reconstruction: np.ndarray) -> None:
    """Refuse mismatched or non-RGB inputs before they reach a network (whose errors are cryptic)."""
    for label, image in (("reference", reference), ("reconstruction", reconstruction)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{label} must be uint8 HxWx3, got {image.dtype} {image.shape}")
    if reference.shape != reconstruction.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape}, reconstruction {reconstruction.shape}")


def to_unit_tensor(image: np.ndarray, device: Any, dtype: Any) -> Any:
    """uint8 HxWx3 -> 1x3xHxW in [0, 1] on `device` (moved as uint8: a quarter of the float transfer)."""
    import torch

    chw = torch.tensor(image).permute(2, 0, 1).unsqueeze(0)  # a copy: PIL-backed arrays are read-only
    return chw.to(device=device).to(dtype) / 255.0


def to_uint8_batch(patches: np.ndarray, device: Any) -> Any:
    """Nxhxwx3 uint8 -> Nx3xhxw uint8 tensor (torch-fidelity's feature extractors take uint8)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).to(device)


def library_version(distribution: str) -> str:
    """Installed version of a pip distribution, for `implementation` strings."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def require_module(module: str, metric: str, pip_name: str) -> Any:
    """Import an optional library or raise MetricUnavailable naming the metric and the pip package."""
    import importlib

    from rdpbench.errors import MetricUnavailable

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MetricUnavailable(f"metric '{metric}' needs the Python package {pip_name!r} "
                                f"(pip install {pip_name}): {exc}") from exc


@contextmanager
def quiet_legacy_torchvision() -> Iterator[None]:
    """lpips and DISTS_pytorch call torchvision's deprecated `pretrained=True`: their warning, not the user's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(pretrained|weight enum).*deprecated", category=UserWarning)
        yield
