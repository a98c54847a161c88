"""Dataset-level metrics (FID/KID): computed once all images are done, from the stored bitstreams.

Decoding again from the stored bytes (not reusing worker memory) keeps the contract
that every measured image comes from the bitstream, and lets parallel workers stay
independent.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Sequence

import pandas as pd

from rdpbench.data.datasets import ImageRef
from rdpbench.data.images import load_image
from rdpbench.errors import MetricUnavailable, WeightsError
from rdpbench.metrics.base import DatasetMetric, create_metric
from rdpbench.results.store import ResultStore
from rdpbench.runners.tasks import CodecSpec, RunSettings, build_codec

log = logging.getLogger("rdpbench")


def compute_dataset_metrics(store: ResultStore, rows: pd.DataFrame, spec: CodecSpec, images: Sequence[ImageRef],
                            names: Sequence[str], settings: RunSettings) -> None:
    if rows.empty:
        return
    mine = rows[(rows["dataset"] == settings.dataset) & (rows["codec"] == spec.label)
                & (rows["config_hash"] == spec.config_hash) & rows["image"].isin([i.name for i in images])]
    if mine["image"].nunique() < len(images):
        log.warning("dataset metrics for %s skipped: %d of %d images finished", spec.label, mine["image"].nunique(),
                    len(images))
        return
    codec = build_codec(spec.config, settings.max_pixels)
    references = {i.name: i.path for i in images}
    out: list[dict[str, Any]] = []
    for name in names:
        try:
            metric = create_metric(name, device=settings.device.name, **settings.metric_options.get(name, {}))
        except (MetricUnavailable, WeightsError, ImportError) as exc:
            out += _rows_for(mine, spec, name, None, f"{type(exc).__name__}: {exc}", "", settings)
            continue
        assert isinstance(metric, DatasetMetric)
        for op_label, group in mine.groupby("op_label"):
            metric.reset()
            for row in group.to_dict("records"):
                reference, _ = load_image(references[row["image"]])
                metric.update(reference, codec.decode(store.read_stream(row)))
            value, reason = metric.compute()
            out += _rows_for(group, spec, name, value, reason, metric.implementation, settings)
    store.write_dataset_metrics(settings.dataset, spec.key, out)


def _rows_for(group: pd.DataFrame, spec: CodecSpec, name: str, value: float | None, reason: str, implementation: str,
              settings: RunSettings) -> list[dict[str, Any]]:
    return [{"dataset": settings.dataset, "codec": spec.label, "config_hash": spec.config_hash, "op_label": op,
             "bpp": float(g["bpp"].mean()), "metric": name, "value": float("nan") if value is None else value,
             "reason": reason, "implementation": implementation, "n_images": int(g["image"].nunique()),
             "versions": json.dumps(settings.versions, sort_keys=True), "git_commit": settings.git_commit}
            for op, g in group.groupby("op_label")]
