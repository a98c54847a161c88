"""One cache directory for every model weight, and one way to ask for a weight file.

Layout: $RDPBENCH_CACHE (default ~/.cache/rdpbench) holds
  torch/hub/checkpoints/  torchvision/torch.hub files (AlexNet, VGG16, CompressAI zoo),
  huggingface/            Hugging Face hub cache (Stable Diffusion, CLIP),
  rdpbench/               files rdpbench fetches by URL with a pinned SHA-256.
`configure_library_caches()` points torch.hub and Hugging Face at it, so the real
loaders of those libraries find files a user placed there by hand.
With RDPBENCH_OFFLINE=1 (or HF_HUB_OFFLINE=1) nothing waits on the network: a
missing file raises WeightsError naming the file, its URL and where to put it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.request
from pathlib import Path

from rdpbench.errors import RdpbenchError, WeightsError


def cache_dir() -> Path:
    return Path(os.environ.get("RDPBENCH_CACHE", Path.home() / ".cache" / "rdpbench")).expanduser()


def offline() -> bool:
    flags = (os.environ.get("RDPBENCH_OFFLINE", ""), os.environ.get("HF_HUB_OFFLINE", ""))
    return any(f.lower() in ("1", "true", "yes") for f in flags)


def configure_library_caches() -> None:
    """Point torch.hub and Hugging Face at our cache unless the user already chose a place."""
    root = cache_dir()
    os.environ.setdefault("TORCH_HOME", str(root / "torch"))
    os.environ.setdefault("HF_HOME", str(root / "huggingface"))
    if offline():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")


def torch_hub_checkpoint(filename: str) -> Path:
    """Where torch.hub.load_state_dict_from_url keeps `filename` (TORCH_HOME/hub/checkpoints)."""
    configure_library_caches()
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / filename


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, destination: Path, sha256: str | None, what: str,
          error: type[RdpbenchError] = WeightsError, allow_network: bool | None = None) -> Path:
    """Return `destination`, downloading it first if absent (unless offline).

    A file that is present but fails its checksum is refused, never silently used.
    Datasets use it too (error=DatasetError); allow_network=None means "unless offline()".
    """
    if destination.exists():
        if sha256 and sha256_of(destination) != sha256:
            raise error(f"{what}: {destination} has the wrong SHA-256 (expected {sha256}); "
                               f"delete it and fetch again from {url}")
        return destination
    network = (not offline()) if allow_network is None else allow_network
    if not network:
        raise error(f"{what}: {destination} is missing and network use is off (offline). "
                           f"Download {url} on a machine with network and copy it to {destination}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, tmp)
        except OSError as exc:
            Path(tmp.name).unlink(missing_ok=True)
            raise error(f"{what}: cannot download {url} ({exc}). Download it elsewhere and copy it "
                               f"to {destination}") from exc
    if sha256 and sha256_of(Path(tmp.name)) != sha256:
        Path(tmp.name).unlink(missing_ok=True)
        raise error(f"{what}: download of {url} failed its SHA-256 check (expected {sha256})")
    os.replace(tmp.name, destination)
    return destination


HUB_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")


def fetch_checkpoint(url: str, destination: Path, what: str, sha256_prefix: str | None = None) -> Path:
    """Fetch a model checkpoint the way torch.hub does with check_hash=True.

    A fresh download must match `sha256_prefix`, by default the hex prefix in the file
    name (torch.hub's `-<sha256[:8]>.` convention); a mismatch is deleted, never left for
    a loader. A file already in the cache is used as it is, as torch.hub uses it.
    """
    downloaded = not destination.exists()
    fetch(url, destination, None, what)
    if sha256_prefix is None and (match := HUB_HASH_IN_NAME.search(destination.name)):
        sha256_prefix = match.group(1)
    if downloaded and sha256_prefix and not sha256_of(destination).startswith(sha256_prefix):
        destination.unlink()
        raise WeightsError(f"{what}: download of {url} failed its SHA-256 check (expected prefix {sha256_prefix})")
    return destination


def verify_files(root: Path, sha256: dict[str, str], who: str, restore: str) -> None:
    """Refuse a model folder whose files (relative names -> SHA-256) are missing or differ; `restore`
    says where the right files come from."""
    for name, digest in sha256.items():
        path = root / name
        if not path.is_file():
            raise WeightsError(f"{who}: {path} is missing; {restore}")
        if sha256_of(path) != digest:
            raise WeightsError(f"{who}: {path} does not match the pinned SHA-256 {digest}; restore it from git, "
                               f"or pass your own model with model=<dir> sha256={{...}}")
