"""Bjontegaard deltas (BD-rate, BD-metric) between RD curves, for any metric and direction.

The integrals are computed by the `bjontegaard` package (FAU-LMS, v1.3), which interpolates
with scipy's PchipInterpolator / Akima1DInterpolator or a cubic polynomial fit. This module
only prepares the curves: orientation by metric direction, reduction to the Pareto front
(the package needs monotone curves; generative sweeps often are not), and explicit errors for
curves that are too short or do not overlap, where the package would return NaN or a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import bjontegaard
import numpy as np
import pandas as pd

from rdpbench.errors import ConfigError, RdpbenchError
from rdpbench.metrics.base import MetricInfo
from rdpbench.reports.curves import pareto_front

METHODS = {
    "pchip": "piecewise cubic Hermite (PCHIP, JCT-VC CTC; scipy PchipInterpolator via bjontegaard "
             f"{bjontegaard.__version__})",
    "akima": f"Akima (scipy Akima1DInterpolator via bjontegaard {bjontegaard.__version__})",
    "cubic": f"legacy cubic polynomial fit (VCEG-M33; numpy polyfit via bjontegaard {bjontegaard.__version__})",
}
MIN_POINTS = {"pchip": 2, "akima": 2, "cubic": 4}
# Below this fraction of the union of two ranges the average covers little of either curve: the
# value is still given (it is well defined), with a note, as the bjontegaard package warns too.
LOW_OVERLAP = 0.5
PUBLISHED_PREFIX = "published:"
# The default anchor must cover the ultra-low range (0.003-0.05 bpp) on any dataset: JPEG on a 2-8x
# downscaled image (conf/codec/resample_jpeg.yaml) spans ~0.009-0.3 bpp on Kodak, is weight-free, in the
# `classical` suite and measured on the same images as the codecs it is compared with. Published anchors
# (`published:StableCodec`, 0.004-0.036 bpp) exist only for the datasets their papers used.
DEFAULT_ANCHOR = "resample_jpeg"


class BDError(RdpbenchError):
    """A BD value cannot be computed for this pair of curves; the message says why."""


@dataclass(frozen=True)
class Front:
    """A curve reduced to its Pareto front: rate ascending, oriented quality strictly ascending."""

    bpp: np.ndarray
    quality: np.ndarray  # in the metric's own units (not negated)
    dropped: int  # points removed as dominated or non-finite


def front(bpp: np.ndarray, quality: np.ndarray, higher_is_better: bool) -> Front:
    bpp, quality = np.asarray(bpp, dtype=float), np.asarray(quality, dtype=float)
    keep = pareto_front(np.where(bpp > 0, bpp, np.nan), quality, higher_is_better)
    return Front(bpp[keep], quality[keep], len(bpp) - len(keep))


@dataclass(frozen=True)
class BDResult:
    bd_rate: float  # percent rate change of test vs anchor at equal quality; negative = test saves rate
    bd_metric: float  # mean metric difference test - anchor at equal rate, in metric units
    method: str
    quality_overlap: float  # overlap of the two quality ranges / their union
    rate_overlap: float  # the same for log-rate ranges
    note: str  # Pareto reduction and low-overlap remarks; empty when nothing to say


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    return max(min(a.max(), b.max()) - max(a.min(), b.min()), 0.0) / union if union > 0 else 0.0


def _check(name: str, curve: Front, method: str, metric: str) -> None:
    need = MIN_POINTS[method]
    if len(curve.bpp) < need:
        raise BDError(f"{name} curve has {len(curve.bpp)} usable point(s) for {metric} "
                      f"(after dropping {curve.dropped} dominated/missing); {method} needs at least {need}")


def bd(anchor: Front, test: Front, info: MetricInfo, method: str = "pchip") -> BDResult:
    """BD-rate and BD-metric of `test` against `anchor` on Pareto fronts (see `front`).

    Raises BDError when a curve is too short or the curves share no quality range (for
    BD-rate) and no rate range (for BD-metric); when only one of the two overlaps, the other
    value is NaN and the note says why.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown BD interpolation method {method!r}; choose one of {sorted(METHODS)}")
    metric = info.name
    _check("anchor", anchor, method, metric)
    _check("test", test, method, metric)
    sign = 1.0 if info.higher_is_better else -1.0
    qa, qt = sign * anchor.quality, sign * test.quality  # oriented: increasing along each front
    la, lt = np.log10(anchor.bpp), np.log10(test.bpp)
    q_overlap, r_overlap = _overlap(qa, qt), _overlap(la, lt)
    if q_overlap == 0 and r_overlap == 0:
        raise BDError(f"curves do not overlap: anchor {metric} {_span(anchor.quality)} at {_span(anchor.bpp)} bpp, "
                      f"test {metric} {_span(test.quality)} at {_span(test.bpp)} bpp")
    notes = [f"{name}: {c.dropped} dominated/missing point(s) dropped (Pareto front)"
             for name, c in (("anchor", anchor), ("test", test)) if c.dropped]
    kwargs = dict(method=method, require_matching_points=False, min_overlap=0)  # overlap is checked here
    if q_overlap > 0:
        rate = float(bjontegaard.bd_rate(anchor.bpp, qa, test.bpp, qt, **kwargs))
    else:
        rate = float("nan")
        notes.append(f"BD-rate: no common {metric} range (anchor {_span(anchor.quality)}, test {_span(test.quality)})")
    if r_overlap > 0:
        metric_delta = sign * float(bjontegaard.bd_psnr(anchor.bpp, qa, test.bpp, qt, **kwargs))
    else:
        metric_delta = float("nan")
        notes.append(f"BD-{metric}: no common rate range (anchor {_span(anchor.bpp)} bpp, test {_span(test.bpp)} bpp)")
    for label, value in (("quality", q_overlap), ("rate", r_overlap)):
        if 0 < value < LOW_OVERLAP:
            notes.append(f"low {label} overlap ({value:.0%} of the union): the average covers a narrow range")
    return BDResult(rate, metric_delta, method, q_overlap, r_overlap, "; ".join(notes))


def _span(values: np.ndarray) -> str:
    return f"[{np.min(values):.4g}, {np.max(values):.4g}]"


TABLE_COLUMNS = ["dataset", "codec", "metric", "anchor", "method", "bd_rate_pct", "bd_metric", "better",
                 "quality_overlap", "rate_overlap", "n_points", "note", "status"]


def resolve_anchor(curves: list[str], anchor: str, dataset: str, published: list[str] | None = None) -> str:
    """The anchor's curve label in one dataset: a measured curve, else a published one (`published:NAME`
    forces published); BDError when it is absent or ambiguous."""
    published = published or []
    if not anchor.startswith(PUBLISHED_PREFIX):
        if anchor in curves:
            return anchor
        matches = [c for c in curves if c.startswith(f"{anchor} [")]
        if len(matches) > 1:
            raise BDError(f"anchor {anchor!r} has {len(matches)} configurations in dataset {dataset!r}: "
                          f"{matches}; pass one of these labels as the anchor")
        if matches:
            return matches[0]
    name = anchor.removeprefix(PUBLISHED_PREFIX)
    if name in published:
        return published_curve(name)
    raise BDError(f"anchor {anchor!r} is not in dataset {dataset!r}: measured there: {sorted(curves)}; published "
                  f"for it: {sorted(published) or 'none'} (name one, e.g. `published:StableCodec`)")


def published_curve(codec: str) -> str:
    """The curve label of a published codec when it takes part in a BD table."""
    return f"{codec} (published)"


def bd_table(points: pd.DataFrame, anchor: str, infos: dict[str, MetricInfo], method: str = "pchip",
             published: pd.DataFrame | None = None) -> pd.DataFrame:
    """BD-rate and BD-metric of every measured curve against `anchor`, per dataset and metric of `infos`.

    `points` is `curves.aggregate(rows)`. The anchor is a measured curve, or a published one from
    `published` (`published.published_for` per dataset: dataset means, LPIPS of the measured backbone
    only). Problems never abort the table: each becomes a row whose `status` says what went wrong
    (anchor missing, metric never computed, too few points, no overlap); `status` is "ok" for
    computed values.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown BD interpolation method {method!r}; choose one of {sorted(METHODS)}")
    records = []
    base = {"anchor": anchor, "method": method}
    for dataset, data in points.groupby("dataset", sort=True):
        curves = list(dict.fromkeys(data["curve"]))
        mine = published[published["dataset"] == dataset] if published is not None else pd.DataFrame()
        try:
            anchor_curve = resolve_anchor(curves, anchor, str(dataset), sorted(set(mine.get("codec", []))))
        except BDError as exc:
            records.append({**base, "dataset": dataset, "status": f"error: {exc}"})
            continue
        if anchor_curve not in curves:  # a published anchor joins the measured curves of this dataset
            chosen = mine[mine["codec"] == anchor_curve.removesuffix(" (published)")]
            data = pd.concat([data, chosen.assign(curve=anchor_curve)], ignore_index=True)
        for metric, info in infos.items():
            if metric not in data.columns or data.loc[data["curve"] != anchor_curve, metric].isna().all():
                records.append({**base, "dataset": dataset, "metric": metric,
                                "status": f"error: no {metric} values in dataset {dataset!r} (metric not run or "
                                          f"failed on every image; see the metric_errors column)"})
                continue
            if data.loc[data["curve"] == anchor_curve, metric].isna().all():
                records.append({**base, "dataset": dataset, "metric": metric,
                                "status": f"error: the anchor {anchor_curve!r} has no {metric} values in dataset "
                                          f"{dataset!r}; choose an anchor that reports {metric}"})
                continue
            fronts = {c: front(d["bpp"], d[metric], info.higher_is_better)
                      for c, d in data.groupby("curve", sort=False)}
            for curve in curves:
                if curve == anchor_curve:
                    continue
                record = {**base, "dataset": dataset, "codec": curve, "metric": metric, "better": info.better,
                          "n_points": len(fronts[curve].bpp)}
                try:
                    result = bd(fronts[anchor_curve], fronts[curve], info, method)
                except BDError as exc:
                    record["status"] = f"error: {exc}"
                else:
                    record.update(bd_rate_pct=result.bd_rate, bd_metric=result.bd_metric, note=result.note,
                                  quality_overlap=result.quality_overlap, rate_overlap=result.rate_overlap,
                                  status="ok")
                records.append(record)
    return pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
