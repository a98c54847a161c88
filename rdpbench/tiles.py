"""Overlapping tiles for large images: bounded memory, seamless feathered blending.

Each tile is coded independently (its index enters every PRNG key, it has its own
side info), so memory is one tile's latent plus the output canvas. This is image
geometry only: any codec that works tile by tile (the generative kit, metrics) uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rdpbench.errors import ConfigError

Box = tuple[int, int, int, int]  # top, left, height, width


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of size `tile` overlapping by >= `overlap`."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    starts = np.linspace(0, length - tile, count)
    return sorted({min(length - tile, int(round(s / multiple)) * multiple) for s in starts})


def tile_boxes(height: int, width: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """(top, left, tile_h, tile_w) in raster order; one box when the image fits in a tile."""
    th, tw = min(tile, height), min(tile, width)
    return [(top, left, th, tw) for top in tile_starts(height, tile, overlap, multiple)
            for left in tile_starts(width, tile, overlap, multiple)]


def disjoint_boxes(height: int, width: int, tile: int) -> list[Box]:
    """Non-overlapping boxes of at most tile x tile covering the image (edge tiles are smaller)."""
    return [(top, left, min(tile, height - top), min(tile, width - left))
            for top in range(0, height, tile) for left in range(0, width, tile)]


def _ramp(size: int, start: int, length: int, overlap: int) -> np.ndarray:
    """1 inside, linear ramps over `overlap` px on the sides that have a neighbour."""
    ramp = np.ones(size, dtype=np.float32)
    if overlap <= 0:
        return ramp
    edge = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
    if start > 0:
        ramp[:overlap] = np.minimum(ramp[:overlap], edge)
    if start + size < length:
        ramp[-overlap:] = np.minimum(ramp[-overlap:], edge[::-1])
    return ramp


class Blender:
    """Accumulate weighted tiles into a float canvas; `result()` normalises and rounds."""

    def __init__(self, height: int, width: int, overlap: int) -> None:
        self.canvas = np.zeros((height, width, 3), dtype=np.float32)
        self.weight = np.zeros((height, width, 1), dtype=np.float32)
        self.overlap = overlap

    def add(self, box: tuple[int, int, int, int], tile: np.ndarray) -> None:
        top, left, th, tw = box
        height, width = self.canvas.shape[:2]
        w = np.outer(_ramp(th, top, height, min(self.overlap, th // 2)),
                     _ramp(tw, left, width, min(self.overlap, tw // 2)))[..., None]
        self.canvas[top:top + th, left:left + tw] += w * tile[:th, :tw]
        self.weight[top:top + th, left:left + tw] += w

    def result(self) -> np.ndarray:
        return np.clip(np.rint(self.canvas / np.maximum(self.weight, 1e-12)), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class TileGrid:
    """Padding to a multiple of `multiple` (the latent grid), then overlapping tiles on the padded canvas."""

    tile_size: int
    overlap: int
    multiple: int = 1

    def __post_init__(self) -> None:
        if self.tile_size <= 2 * self.overlap or self.overlap < 0:
            raise ConfigError(f"tiles: tile_size={self.tile_size} must exceed 2*tile_overlap={2 * self.overlap}")
        if self.tile_size % self.multiple:
            raise ConfigError(f"tiles: tile_size={self.tile_size} is not a multiple of the latent downsampling "
                              f"{self.multiple}")

    def padded(self, height: int, width: int) -> tuple[int, int]:
        m = self.multiple
        return -(-height // m) * m, -(-width // m) * m

    def pad(self, image: np.ndarray) -> np.ndarray:
        """Edge-replicate (right/bottom) to the padded size; decoders crop back to H x W."""
        height, width = image.shape[:2]
        ph, pw = self.padded(height, width)
        return np.pad(image, ((0, ph - height), (0, pw - width), (0, 0)), mode="edge")

    def boxes(self, height: int, width: int) -> list[Box]:
        """Tiles of an H x W image, on its padded canvas, in raster order."""
        return tile_boxes(*self.padded(height, width), self.tile_size, self.overlap, self.multiple)

    def latent_shape(self, box: Box, channels: int) -> tuple[int, int, int]:
        return channels, box[2] // self.multiple, box[3] // self.multiple

    def blender(self, height: int, width: int) -> "Blender":
        return Blender(*self.padded(height, width), self.overlap)
