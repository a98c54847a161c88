"""Plain, picklable descriptions of the work, built once from the Hydra config.

Workers (possibly in other processes) receive these and build codecs and metrics
themselves, so nothing unpicklable crosses a process boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import instantiate

from rdpbench.bitstream import DEFAULT_MAX_PIXELS
from rdpbench.codecs.base import Codec
from rdpbench.data.datasets import ImageRef
from rdpbench.results.provenance import config_hash
from rdpbench.results.store import ResultStore


def build_codec(config: dict[str, Any], max_pixels: int | None = None) -> Codec:
    """Instantiate an adapter from its config; plain Python containers (not OmegaConf) reach it.

    `max_pixels` (the run's `max_pixels`) replaces the codec's default ceiling on decoded image sizes.
    """
    codec = instantiate(config, _convert_="all")
    if max_pixels is not None:
        codec.max_pixels = int(max_pixels)
    return codec


@dataclass(frozen=True)
class CodecSpec:
    label: str
    config: dict[str, Any]  # resolved Hydra config with _target_
    config_hash: str
    codec_name: str
    description: str  # JSON of codec.config(), stored in rows

    @property
    def key(self) -> str:
        return ResultStore.codec_key(self.label, self.config_hash)

    @classmethod
    def build(cls, label: str, config: dict[str, Any]) -> tuple["CodecSpec", Codec]:
        codec = build_codec(config)
        description = codec.config()
        digest = config_hash({"hydra": config, "codec": description})
        return cls(label, config, digest, codec.name, json.dumps(description, sort_keys=True, default=str)), codec


@dataclass(frozen=True)
class RunSettings:
    results_dir: str
    dataset: str
    metrics: tuple[str, ...]
    metric_options: dict[str, dict[str, Any]]
    target_bpp: tuple[float, ...] | None
    verify: str
    save_reconstructions: int | None  # None: all images
    seed: int
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str = "unknown"
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class ImageTask:
    image: ImageRef
    index: int
    codec: CodecSpec


@dataclass(frozen=True)
class TaskOutcome:
    task: ImageTask
    ok: bool
    message: str = ""
    seconds: float = 0.0
