"""Every backbone file the learned metrics load, with its URL and pinned hash, in one table.

The libraries (lpips, DISTS_pytorch, torch-fidelity) download these through torch.hub
themselves; we make sure the file is already in the torch.hub cache first, so offline runs
fail fast with a message naming the file instead of hanging on a download inside the library.
The pinned hash is the SHA-256 prefix carried in the file name, which is exactly what
torch.hub checks on download (`check_hash=True`); `rdpbench.weights_cli verify` checks it
for files already on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdpbench.errors import WeightsError
from rdpbench.weights import fetch_checkpoint, sha256_of, torch_hub_checkpoint


@dataclass(frozen=True)
class HubFile:
    """A torch.hub checkpoint: lives at TORCH_HOME/hub/checkpoints/<filename>."""

    filename: str
    url: str
    sha256_prefix: str
    description: str

    @property
    def path(self) -> Path:
        return torch_hub_checkpoint(self.filename)


ALEXNET = HubFile("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                  "7be5be79", "torchvision AlexNet ImageNet weights (IMAGENET1K_V1)")
VGG16 = HubFile("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                "397923af", "torchvision VGG16 ImageNet weights (IMAGENET1K_V1)")
INCEPTION_FID = HubFile(
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "6726825d", "torch-fidelity InceptionV3 (TF 2015-12-05 port, the FID reference network)")


def fetch_command(metric: str) -> str:
    return f"python -m rdpbench.weights_cli fetch --metrics {metric}   (or: make weights)"


def ensure_hub_file(spec: HubFile, metric: str) -> Path:
    """Return the local checkpoint, downloading it (hash-checked) unless offline.

    Raises WeightsError naming the metric, the file, where it must go and how to get it.
    """
    try:
        return fetch_checkpoint(spec.url, spec.path, f"metric '{metric}' needs {spec.description}",
                                spec.sha256_prefix)
    except WeightsError as exc:
        raise WeightsError(f"{exc}; on a machine with network run: {fetch_command(metric)}") from exc


def verify_hub_file(spec: HubFile) -> str:
    """'ok', 'missing' or 'hash mismatch' for a file already in the cache (never downloads)."""
    if not spec.path.exists():
        return "missing"
    return "ok" if sha256_of(spec.path).startswith(spec.sha256_prefix) else "hash mismatch"
