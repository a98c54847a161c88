"""Randomly initialised stand-ins for the CompressAI zoo and MS-ILLM checkpoints, saved where the
real loaders look (TORCH_HOME/hub/checkpoints/<the release's file name>).

For tests and the fuzz target on machines that cannot download the real files: the codecs then
run their real loading, coding and checking path; only the pictures are meaningless.
`rdpbench.weights_cli verify` reports such files as 'hash mismatch'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence


def save_random_zoo_weights(architecture: str, metric: str = "mse", quality: int = 1, seed: int = 0,
                            sizes: Sequence[int] | None = None) -> Path:
    """A random `architecture` net (the zoo's own sizes for `quality` unless `sizes` = (N, M) or (N,))."""
    import torch
    from compressai.zoo.image import cfgs, model_architectures

    from rdpbench.codecs.compressai_zoo import zoo_location

    torch.manual_seed(seed)
    net = model_architectures[architecture](*(sizes or cfgs[architecture][quality]))
    net.update(force=True)
    _, path = zoo_location(architecture, metric, quality)
    return _save(net, path)


def save_random_msillm_weights(quality: int, architecture: Mapping[str, Any], seed: int = 0) -> Path:
    """A random HiFiCAutoencoder(**architecture) as the released checkpoint of `quality`."""
    import torch
    from neuralcompression.models import HiFiCAutoencoder

    from rdpbench.codecs.msillm import release_location

    torch.manual_seed(seed)
    net = HiFiCAutoencoder(**architecture)
    net.update(force=True)
    _, path = release_location(quality)
    return _save(net, path)


def _save(net: Any, path: Path) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
