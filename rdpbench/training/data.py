"""Random crops from the training photos, cut once and kept in memory.

Decoding a 1024-pixel PNG costs more than a CPU training step of a small model,
so every image is decoded once and `crops_per_image` random crops are kept as
uint8; batches then draw crops and flips from that bank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rdpbench.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp"}
KODAK_NAME_PREFIX = "kodim"  # refuse the test set by name: training on it would leak into every result


def training_files(root: str | Path) -> list[Path]:
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"no training images (png/jpg) under {root}")
    leaked = [p for p in files if p.name.lower().startswith(KODAK_NAME_PREFIX)]
    if leaked:
        raise DatasetError(f"training folder {root} contains test images ({leaked[0].name} ...); remove them")
    return files


class CropBank:
    """uint8 crops (n, 3, size, size) with seeded sampling, so a run is reproducible given its seed."""

    def __init__(self, root: str | Path, size: int, crops_per_image: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        crops = []
        for path in training_files(root):
            with Image.open(path) as img:
                array = np.asarray(img.convert("RGB"))
            height, width = array.shape[:2]
            if min(height, width) < size:
                continue
            for _ in range(crops_per_image):
                top, left = rng.integers(0, height - size + 1), rng.integers(0, width - size + 1)
                crops.append(array[top:top + size, left:left + size])
        if not crops:
            raise DatasetError(f"no training image under {root} is at least {size}x{size}")
        self.crops = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.crops)

    def batch(self, batch_size: int) -> torch.Tensor:
        """A float batch in [0, 1] with random horizontal flips."""
        index = torch.randint(len(self.crops), (batch_size,), generator=self.generator)
        x = self.crops[index].float().div_(255)
        flip = torch.rand(batch_size, generator=self.generator) < 0.5
        x[flip] = x[flip].flip(-1)
        return x
