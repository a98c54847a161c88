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
from rdpbench.device import DevicePolicy
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
    def build(cls, label: str, config: dict[str, Any],
              target_bpp: tuple[float, ...] | None = None) -> tuple["CodecSpec", Codec]:
        """Rate-control targets choose which streams exist, so they are hashed with the config:
        rows measured at fixed ops and rows rate-controlled to other targets never stand in for each other."""
        codec = build_codec(config)
        description = codec.config()
        hashed: dict[str, Any] = {"hydra": config, "codec": description}
        if target_bpp is not None:
            hashed["rate_control"] = {"target_bpp": list(target_bpp)}
        digest = config_hash(hashed)
        return cls(label, config, digest, codec.name, json.dumps(description, sort_keys=True, default=str)), codec


@dataclass(frozen=True)
class RunSettings:
    results_dir: str
    dataset: str
    dataset_id: str  # the dataset config it came from (dataset=<id>), recorded with each image
    dataset_size: int  # images in the whole dataset (a run may measure only max_images of them)
    data_root: str  # image paths are recorded relative to it where they lie under it
    metrics: tuple[str, ...]
    metric_options: dict[str, dict[str, Any]]
    target_bpp: tuple[float, ...] | None
    verify: str
    save_reconstructions: int | None  # None: all images
    seed: int
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str = "unknown"
    max_pixels: int = DEFAULT_MAX_PIXELS
    device: DevicePolicy = DevicePolicy()
    device_slots: str | None = None  # directory where workers claim their GPU slot (round robin); None: slot 0


@dataclass(frozen=True)
class Completion:
    """What an image's stored rows lack for this run, to be added from their stored streams."""

    metrics: tuple[str, ...] = ()  # metrics to (re)compute: missing, or measured by another implementation
    verify: bool = False  # decode again in a fresh process (verify=isolated over rows measured without it)

    def __bool__(self) -> bool:
        return bool(self.metrics) or self.verify

    @classmethod
    def of(cls, rows: list[dict[str, Any]], implementations: dict[str, str], verify: str) -> "Completion":
        """What one image's stored `rows` lack: every requested metric whose recorded implementation
        differs from `implementations` (name -> implementation of each metric this run can compute),
        and a fresh-process verification when asked for and not yet done. Falsy: reuse as they are."""
        recorded = [json.loads(row.get("metric_impl") or "{}") for row in rows]
        metrics = tuple(m for m, impl in implementations.items() if any(r.get(m) != impl for r in recorded))
        verify_again = verify == "isolated" and any(row.get("verified") != "isolated" for row in rows)
        return cls(metrics, verify_again)


@dataclass(frozen=True)
class ImageTask:
    image: ImageRef
    index: int
    codec: CodecSpec
    complete: Completion | None = None  # None: encode from scratch; else complete the stored rows


@dataclass(frozen=True)
class TaskOutcome:
    task: ImageTask
    ok: bool
    message: str = ""
    seconds: float = 0.0
