"""Evaluation datasets: where the files come from, how they are verified, how they are listed.

A data root (config `data_root`, env RDPBENCH_DATA_ROOT) holds one folder per dataset
(<root>/kodak/kodimNN.png, <root>/div2k/DIV2K_valid_HR.zip, ...). Files already there
are used without network once their SHA-256 passes; a mismatch is refused. Missing
files are downloaded from the pinned URLs unless offline, in which case the error
names the URL and the exact path to put the file at.
"""

from __future__ import annotations

import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rdpbench.errors import DatasetError
from rdpbench.weights import fetch, sha256_of

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".ppm", ".pgm")


@dataclass(frozen=True)
class ImageRef:
    name: str  # stable id used in result rows and file names (no suffix)
    path: Path


class Dataset(ABC):
    name: str

    @abstractmethod
    def images(self) -> list[ImageRef]:
        """Verified, sorted image list; raises DatasetError with a fix-it message."""

    @property
    def label(self) -> str:
        """The `dataset` value in result rows: the name, plus the split where it matters."""
        return self.name

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.label}


def _listed_images(folder: Path, recursive: bool = False) -> list[ImageRef]:
    """Image ids: the path below `folder` without its suffix, '/' written '__' (kodim01, DIV2K_valid_HR__0801).

    Ids are unique: files that share a stem (dup.png, dup.jpg) keep their suffix (dup.png, dup.jpg);
    any collision left (sub/x.png and sub__x.png) is refused naming both files, before anything runs.
    """
    pattern = "**/*" if recursive else "*"
    paths = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    stems = [str(p.relative_to(folder).with_suffix("")).replace("/", "__") for p in paths]
    shared = {stem for stem, n in Counter(stems).items() if n > 1}
    refs = [ImageRef(stem + p.suffix if stem in shared else stem, p) for stem, p in zip(stems, paths)]
    first: dict[str, Path] = {}
    for ref in refs:
        if ref.name in first:
            raise DatasetError(f"{first[ref.name]} and {ref.path} would share the image id {ref.name!r} (and its "
                               f"rows and files in the results store); rename one of them")
        first[ref.name] = ref.path
    return refs


def _read_sums(text: str) -> dict[str, str]:
    return {line.split()[1].lstrip("*"): line.split()[0] for line in text.splitlines() if line.strip()}


class Sample(Dataset):
    """Four 2x-reduced Kodak images shipped in the package: the offline default."""

    name = "sample"

    def images(self) -> list[ImageRef]:
        folder = Path(str(resources.files("rdpbench.data") / "sample"))
        sums = _read_sums((folder / "SHA256SUMS").read_text())
        for filename, digest in sums.items():
            if sha256_of(folder / filename) != digest:
                raise DatasetError(f"sample image {folder / filename} is modified; reinstall rdpbench")
        return [ImageRef(Path(f).stem, folder / f) for f in sorted(sums)]


class Folder(Dataset):
    """Any directory of images (not verified: the user vouches for it)."""

    def __init__(self, path: str, name: str = "folder", recursive: bool = False) -> None:
        self.path, self.name, self.recursive = Path(path).expanduser(), name, recursive

    def images(self) -> list[ImageRef]:
        if not self.path.is_dir():
            raise DatasetError(f"dataset {self.name!r}: folder {self.path} does not exist")
        refs = _listed_images(self.path, self.recursive)
        if not refs:
            raise DatasetError(f"dataset {self.name!r}: no images ({', '.join(IMAGE_SUFFIXES)}) in {self.path}")
        return refs

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "path": str(self.path)}


class Kodak(Dataset):
    """The 24 canonical Kodak PNGs, each SHA-256 pinned (checksums shipped in the package)."""

    name = "kodak"
    URL = "http://r0k.us/graphics/kodak/kodak/{filename}"

    def __init__(self, root: str, offline: bool = False) -> None:
        self.folder = Path(root).expanduser() / "kodak"
        self.allow_network = False if offline else None  # None: unless RDPBENCH_OFFLINE is set

    def images(self) -> list[ImageRef]:
        sums = _read_sums((resources.files("rdpbench.data") / "checksums" / "kodak.sha256").read_text())
        refs = []
        for filename, digest in sorted(sums.items()):
            path = fetch(self.URL.format(filename=filename), self.folder / filename, digest,
                         f"dataset 'kodak' file {filename}", error=DatasetError, allow_network=self.allow_network)
            refs.append(ImageRef(Path(filename).stem, path))
        return refs


@dataclass(frozen=True)
class Archive:
    url: str
    size: int
    sha256: str
    folder: str  # extraction folder name under the dataset root


class ArchiveDataset(Dataset):
    """A dataset published as one zip: verify the zip once, extract, remember the verification.

    The marker file stores the archive checksum, so a large zip is hashed once, not per run.
    """

    archives: dict[str, Archive]

    def __init__(self, root: str, split: str, offline: bool = False) -> None:
        if split not in self.archives:
            raise DatasetError(f"dataset {self.name!r}: unknown split {split!r}; choose from {sorted(self.archives)}")
        self.split, self.archive = split, self.archives[split]
        self.folder = Path(root).expanduser() / self.name
        self.allow_network = False if offline else None

    def extracted(self) -> Path:
        target = self.folder / self.archive.folder
        marker = target / ".rdpbench-verified"
        if marker.exists() and marker.read_text().strip() == self.archive.sha256:
            return target
        zip_path = fetch(self.archive.url, self.folder / Path(self.archive.url).name, self.archive.sha256,
                         f"dataset {self.name!r} ({self.split})", error=DatasetError,
                         allow_network=self.allow_network)
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(target)
        marker.write_text(self.archive.sha256)
        return target

    def images(self) -> list[ImageRef]:
        refs = _listed_images(self.extracted(), recursive=True)
        if not refs:
            raise DatasetError(f"dataset {self.name!r}: archive {self.archive.url} held no images")
        return refs

    @property
    def label(self) -> str:
        return self.name if self.split == "valid" else f"{self.name}-{self.split}"

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.label, "split": self.split, "archive_sha256": self.archive.sha256}


class DIV2K(ArchiveDataset):
    """DIV2K HR; `valid` (0801-0900) is the evaluation split."""

    name = "div2k"
    archives = {
        "valid": Archive("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip", 448993893,
                         "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc", "DIV2K_valid_HR"),
        "train": Archive("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip", 3530603713,
                         "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335", "DIV2K_train_HR"),
    }


class CLIC2020(ArchiveDataset):
    """CLIC 2020. Most generative-codec papers report `professional_test` (428 images); the split is recorded."""

    name = "clic2020"
    archives = {
        "professional_valid": Archive("https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip",
                                      134834429, "00be38092ade2ab5163b65f7f6523d46c7bca147007f559adbb02c0afc236b7d",
                                      "professional_valid"),
        "mobile_valid": Archive("https://data.vision.ee.ethz.ch/cvl/clic/mobile_valid_2020.zip", 236556531,
                                "ff0280382eeb32fdceb28c81a7f47ac9ad86d933ebe901680845635d04e47a10", "mobile_valid"),
        "professional_test": Archive("https://data.vision.ee.ethz.ch/cvl/clic/test/CLIC2020Professional_test.zip",
                                     891643809, "857df244fc2bfa5da28d4c66bf0db16ee99bfc79eb807be8afa89cd507852884",
                                     "professional_test"),
        "mobile_test": Archive("https://data.vision.ee.ethz.ch/cvl/clic/test/CLIC2020Mobile_test.zip", 721789976,
                               "2025f07a6c652270e534640de4271feef3b3dd3260beed4ac4821064837aa732", "mobile_test"),
    }


class HuggingFaceDIV2K(Dataset):
    """DIV2K validation HR through the `eugenesiow/Div2k` Hugging Face mirror (needs `datasets`).

    Not checksum-pinned per file (the mirror publishes none); the row's dataset name says
    `div2k-hf` so results from it are never mixed with the verified archive.
    """

    name = "div2k-hf"

    def __init__(self, hub_id: str = "eugenesiow/Div2k", config: str = "bicubic_x2", split: str = "validation") -> None:
        self.hub_id, self.config, self.split = hub_id, config, split

    def images(self) -> list[ImageRef]:
        try:
            import datasets
        except ImportError:
            raise DatasetError("dataset 'div2k-hf' needs the `datasets` package: pip install datasets") from None
        try:
            rows = datasets.load_dataset(self.hub_id, self.config, split=self.split, trust_remote_code=True)
        except Exception as exc:
            raise DatasetError(f"dataset 'div2k-hf': cannot load {self.hub_id} ({exc}); use dataset=div2k "
                               f"with the archive in the data root instead") from exc
        return sorted((ImageRef(Path(r["hr"]).stem, Path(r["hr"])) for r in rows), key=lambda r: r.name)

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "hub_id": self.hub_id, "config": self.config, "split": self.split}
