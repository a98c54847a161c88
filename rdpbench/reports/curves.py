"""From per-image result rows to per-codec RD curves: labels, means over images, Pareto fronts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rdpbench.results.store import load_dataset_metrics, load_rows, metric_columns

GROUP_KEYS = ["dataset", "curve", "codec", "config_hash", "op_label"]


def point_metrics(points: pd.DataFrame) -> list[str]:
    """Metric columns of an `aggregate` frame (each has an `n_<metric>` count column)."""
    return [c for c in points.columns if f"n_{c}" in points.columns]


def add_curve_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """Add a `curve` column: the codec label, or "<codec> [<hash8>]" when that label has several
    config hashes in one dataset, so two configurations are never averaged into one curve."""
    rows = rows.copy()
    hashes = rows.groupby(["dataset", "codec"])["config_hash"].transform("nunique")
    rows["curve"] = np.where(hashes > 1, rows["codec"] + " [" + rows["config_hash"].astype(str).str[:8] + "]",
                             rows["codec"])
    return rows


def aggregate(rows: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One point per (dataset, curve, op): mean bpp and mean of each per-image metric over images.

    Means skip missing values (a metric that failed on some images); `n_<metric>` says how many
    images each mean covers so the tables can flag partial means. Means of per-image PSNR (not
    PSNR of the mean MSE) match how CompressAI's published curves are averaged.
    """
    if rows.empty:
        return pd.DataFrame(columns=GROUP_KEYS + ["n_images", "bpp"])
    rows = add_curve_labels(rows)
    metrics = metric_columns(rows) if metrics is None else [m for m in metrics if m in rows.columns]
    # A metric missing on every row arrives as an object column of None; make every metric numeric.
    rows[metrics] = rows[metrics].apply(pd.to_numeric, errors="coerce")
    grouped = rows.groupby(GROUP_KEYS, sort=False, dropna=False)
    points = grouped[["bpp", *metrics]].mean()
    points.insert(0, "n_images", grouped.size())
    for metric in metrics:
        points[f"n_{metric}"] = grouped[metric].count()
    return points.reset_index().sort_values(["dataset", "curve", "bpp"], ignore_index=True)


def pareto_front(bpp: np.ndarray, quality: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Indices of the points no other point beats (less or equal rate and better or equal quality),
    sorted by rate, with quality strictly improving along the front.

    Hand-written because neither scipy nor numpy ship a 2-D Pareto filter and it is five lines;
    non-finite points are ignored.
    """
    bpp, quality = np.asarray(bpp, dtype=float), np.asarray(quality, dtype=float)
    oriented = quality if higher_is_better else -quality
    finite = np.flatnonzero(np.isfinite(bpp) & np.isfinite(oriented))
    order = finite[np.lexsort((-oriented[finite], bpp[finite]))]  # by rate, best quality first on ties
    front, best = [], -np.inf
    for index in order:
        if oriented[index] > best:
            front.append(index)
            best = oriented[index]
    return np.asarray(front, dtype=int)


def add_dataset_metrics(points: pd.DataFrame, dataset_metrics: pd.DataFrame) -> pd.DataFrame:
    """Join dataset-level metrics (FID, KID, ...: one value per op, not per image) onto the curve
    points, so they get plot panels and BD-rates like per-image metrics."""
    if dataset_metrics.empty or points.empty:
        return points
    values = dataset_metrics.assign(value=pd.to_numeric(dataset_metrics["value"], errors="coerce")).pivot_table(
        index=["dataset", "codec", "config_hash", "op_label"], columns="metric", values="value", aggfunc="first",
        dropna=False)
    values.columns.name = None
    merged = points.merge(values.reset_index(), on=["dataset", "codec", "config_hash", "op_label"], how="left")
    for metric in values.columns:
        merged[f"n_{metric}"] = merged["n_images"].where(merged[metric].notna(), 0)
    return merged


def coverage(rows: pd.DataFrame) -> str:
    """'measured on 4 of 24 images' for one dataset's rows (per-curve counts when curves differ)."""
    measured = rows["image"].nunique()
    sizes = pd.to_numeric(rows["dataset_size"], errors="coerce").dropna() if "dataset_size" in rows else []
    size = f" of {int(max(sizes))}" if len(sizes) else ""
    per_curve = add_curve_labels(rows).groupby("curve")["image"].nunique()
    spread = f" (per curve: {per_curve.min()}-{per_curve.max()})" if per_curve.nunique() > 1 else ""
    return f"measured on {measured}{size} images{spread}"


def implementation_notes(rows: pd.DataFrame) -> list[str]:
    """One note per metric whose values in these rows come from more than one implementation."""
    seen: dict[str, set[str]] = {}
    for impl in rows.get("metric_impl", pd.Series(dtype=str)).dropna().unique():
        for metric, text in json.loads(impl).items():
            seen.setdefault(metric, set()).add(text)
    return [f"{metric}: values from {len(texts)} implementations ({'; '.join(sorted(texts))}); curves measured "
            f"with different ones are not comparable" for metric, texts in sorted(seen.items()) if len(texts) > 1]


def load_points(results_dir: Path, metrics: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, points) for a results directory: per-image rows and their per-op curve points,
    dataset-level metrics included; `metrics` None keeps every metric."""
    rows = load_rows(results_dir)
    points = add_dataset_metrics(aggregate(rows, metrics), load_dataset_metrics(results_dir))
    if metrics is not None:
        points = points.drop(columns=[c for m in point_metrics(points) if m not in metrics for c in (m, f"n_{m}")])
    return rows, points
