"""Device and dtype are chosen once, here, for every torch-backed component (as diffusers pipelines do)."""

from __future__ import annotations

from typing import Any


def resolve_device(device: str = "auto") -> Any:
    """'auto' -> cuda if available, else mps, else cpu; anything else is passed to torch.device."""
    import torch

    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: Any) -> Any:
    """'auto' -> float16 on CUDA, float32 elsewhere (CPU half precision is slow and inexact)."""
    import torch

    if dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype)
