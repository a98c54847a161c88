"""RD plots (matplotlib, Agg): per dataset, one panel per metric; measured curves solid, published dashed.

Made to be read at ultra-low rates: each curve is its Pareto front for that panel's metric (the
line), with dominated operating points as faint markers; a codec's measured and published
curves share a colour family and differ in shade, marker and line style; the bpp axis spans the
measured rates unless asked otherwise (published points outside it are not drawn, and a note
says so). Labels, units and directions come from the results store.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports run headless (CI, clusters); no display backend is ever needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import ticker  # noqa: E402

from rdpbench.metrics.base import MetricInfo  # noqa: E402
from rdpbench.reports.curves import coverage, implementation_notes, pareto_front  # noqa: E402
from rdpbench.reports.names import display_name, family  # noqa: E402
from rdpbench.reports.published import published_points  # noqa: E402

# Published curves drawn by default (those with a point in the plotted bpp range): classical anchors,
# two CompressAI MSE models, and the generative systems that publish 0.003-0.1 bpp points.
DEFAULT_PUBLISHED = ("jpeg", "webp", "bpg_444_x265_ycbcr", "vtm", "av1", "compressai-mbt2018_mse_cuda",
                     "compressai-cheng2020-attn_mse_cuda", "MS-ILLM", "No-GAN", "StableCodec", "DiffEIC")
LEGEND_COLUMNS = 3
RANGE_MARGIN = 1.12  # the default bpp axis: measured range widened by this factor at each end (log axis)
ULTRA_LOW = (0.003, 0.1)  # bpp: the range rdpbench is about; the default axis keeps to it when rates fall in it
MEASURED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
PUBLISHED_MARKERS = ("x", "+", "1", "2", "3", "4", "|")
# One hue per family (tab10, then tab20's lighter partners); shades separate curves inside a family.
HUES = [plt.cm.tab10(i) for i in range(10)] + [plt.cm.tab20(2 * i + 1) for i in range(10)]


@dataclass(frozen=True)
class Style:
    color: tuple[float, ...]
    marker: str
    linestyle: str
    label: str


def _shade(color: tuple[float, ...], position: float | None) -> tuple[float, float, float]:
    """`color` itself (position None), or with its lightness moved from 0.12 below (position 0) to 0.22
    above (position 1) its own, so shades of one family stay apart from the neighbouring hues."""
    if position is None:
        return mcolors.to_rgb(color)
    h, lightness, s = colorsys.rgb_to_hls(*mcolors.to_rgb(color))
    return colorsys.hls_to_rgb(h, min(0.8, max(0.22, lightness - 0.12 + 0.34 * position)), s)


def curve_styles(measured: list[str], published: list[str]) -> dict[tuple[str, str], Style]:
    """(kind, curve) -> style, kind "measured" or "published". Curves of one family share a hue
    (measured darker, published lighter); markers and line styles tell them apart."""
    members: dict[str, list[tuple[str, str]]] = {}
    for kind, names in (("measured", measured), ("published", published)):
        for name in names:
            members.setdefault(family(name), []).append((kind, name))
    styles = {}
    for index, (_, curves) in enumerate(members.items()):
        hue = HUES[index % len(HUES)]
        counts = {"measured": 0, "published": 0}
        for position, (kind, name) in enumerate(curves):
            shade = None if len(curves) == 1 else position / (len(curves) - 1)
            markers = MEASURED_MARKERS if kind == "measured" else PUBLISHED_MARKERS
            marker = markers[counts[kind] % len(markers)]
            counts[kind] += 1
            label = display_name(name) + (" (published)" if kind == "published" else "")
            styles[(kind, name)] = Style(_shade(hue, shade), marker, "-" if kind == "measured" else "--", label)
    return styles


def bpp_limits(points: pd.DataFrame, published: pd.DataFrame, bpp_range: tuple[float, float] | None
               ) -> tuple[float, float]:
    """The bpp axis: `bpp_range`, else the measured ultra-low range: the measured rates inside ULTRA_LOW
    (all measured rates when none is), widened by RANGE_MARGIN; published rates when nothing was measured."""
    if bpp_range is not None:
        return bpp_range
    rates = points["bpp"] if not points.empty else published["bpp"]
    rates = rates[rates > 0]
    low = rates[(rates >= ULTRA_LOW[0]) & (rates <= ULTRA_LOW[1])]
    rates = low if len(low) else rates
    return float(rates.min()) / RANGE_MARGIN, float(rates.max()) * RANGE_MARGIN


def _in_range(bpp: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    return (bpp >= limits[0]) & (bpp <= limits[1])


def _draw(ax: plt.Axes, data: pd.DataFrame, metric: str, info: MetricInfo, style: Style,
          limits: tuple[float, float]) -> list[float]:
    """Front as a line, dominated points faint; returns the metric values inside the bpp range."""
    data = data.dropna(subset=[metric])
    bpp, values = data["bpp"].to_numpy(dtype=float), data[metric].to_numpy(dtype=float)
    front = pareto_front(bpp, values, info.higher_is_better)
    if not len(front):
        return []
    # Keep the front's nearest points outside the axis so lines run to the edge, not stop short.
    inside = np.flatnonzero(_in_range(bpp[front], limits))
    if not len(inside):
        return []
    drawn = front[max(inside[0] - 1, 0): inside[-1] + 2]
    dashed = style.linestyle != "-"
    ax.plot(bpp[drawn], values[drawn], linestyle=style.linestyle, marker=style.marker, color=style.color,
            ms=5 if dashed else 4.5, lw=1.2 if dashed else 1.6, label=style.label,
            markerfacecolor="none" if style.marker in ("o", "s", "^", "D", "v") and dashed else style.color)
    dominated = np.setdiff1d(np.arange(len(bpp)), front)
    if len(dominated):
        ax.plot(bpp[dominated], values[dominated], linestyle="none", marker=style.marker, color=style.color,
                ms=4, alpha=0.25)
    return list(values[_in_range(bpp, limits)])


def _format_bpp_axis(ax: plt.Axes, limits: tuple[float, float], log_bpp: bool) -> None:
    if log_bpp:
        # Ultra-low-rate plots often span less than a decade: label 1-2-5 ticks in plain numbers.
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlim(*limits)
    ax.set_xlabel("bits per pixel" + (" (log scale)" if log_bpp else ""))


def rd_figure(points: pd.DataFrame, infos: dict[str, MetricInfo], published: pd.DataFrame | None = None,
              log_bpp: bool = True, title: str = "", bpp_range: tuple[float, float] | None = None
              ) -> tuple[plt.Figure | None, list[str]]:
    """Figure for one dataset's `aggregate` points, one panel per metric of `infos` with values;
    returns (figure or None, notes)."""
    notes: list[str] = []
    published = published if published is not None else pd.DataFrame(columns=["codec", "bpp"])
    shown = [m for m in infos if m in points and points[m].notna().any()]
    notes += [f"{m}: no measured values (not computed or failed on every image), panel omitted"
              for m in infos if m not in shown]
    if not shown or (points.empty and published.empty):
        return None, notes
    limits = bpp_limits(points, published, bpp_range)
    axis = f"bpp axis {limits[0]:.3g}-{limits[1]:.3g}" + ("" if bpp_range else " (the measured ultra-low range)")
    beyond = int((~_in_range(points["bpp"].to_numpy(dtype=float), limits)).sum()) if not points.empty else 0
    inside = _in_range(published["bpp"].to_numpy(dtype=float), limits)
    for count, what in ((beyond, "measured operating point(s)"), (int((~inside).sum()), "published point(s)")):
        if count:
            notes.append(f"{axis}: {count} {what} outside it not drawn; choose the range with --bpp-range LOW HIGH")
    published = published[published["codec"].isin(set(published.loc[inside, "codec"]))]
    measured = sorted(points["curve"].unique()) if not points.empty else []
    published_names = sorted(published["codec"].unique())
    styles = curve_styles(measured, published_names)
    legend_rows = -(-(len(measured) + len(published_names)) // LEGEND_COLUMNS)
    legend_height = 0.18 * legend_rows + 0.2
    fig, axes = plt.subplots(1, len(shown), figsize=(4.6 * len(shown), 3.7 + legend_height), squeeze=False)
    for ax, metric in zip(axes[0], shown):
        info = infos[metric]
        values = []
        for curve in measured:
            values += _draw(ax, points[points["curve"] == curve], metric, info, styles[("measured", curve)], limits)
        if metric in published:
            for codec in published_names:
                values += _draw(ax, published[published["codec"] == codec], metric, info,
                                styles[("published", codec)], limits)
        _format_bpp_axis(ax, limits, log_bpp)
        if values:
            low, high = min(values), max(values)
            pad = 0.06 * (high - low) if high > low else 0.05 * max(abs(high), 1e-3)
            ax.set_ylim(low - pad, high + pad)
        ax.set_ylabel(info.axis_label())
        ax.grid(True, which="both", alpha=0.3)
    handles: dict[str, object] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    order = [s.label for s in styles.values() if s.label in handles]
    fig.legend([handles[label] for label in order], order, loc="lower center", ncol=LEGEND_COLUMNS, fontsize=8,
               frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, legend_height / fig.get_figheight(), 1, 1))
    return fig, notes


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """PNG (for the HTML report) and PDF (for papers); closes the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=110)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def write_rd_figure(rows: pd.DataFrame, points: pd.DataFrame, infos: dict[str, MetricInfo], published: pd.DataFrame,
                    dataset: str, out_dir: Path, log_bpp: bool = True, bpp_range: tuple[float, float] | None = None,
                    published_codecs: tuple[str, ...] | None = DEFAULT_PUBLISHED) -> tuple[Path | None, list[str]]:
    """figures/rd_<dataset>.png and .pdf for one dataset of a results store; returns (PNG or None, notes)."""
    mine = rows[rows["dataset"] == dataset]
    chosen, notes = published_points(published, rows, dataset, published_codecs) if len(published) else (None, [])
    notes += implementation_notes(mine)
    title = f"{dataset}: {coverage(mine)}" + ("; published curves: whole dataset" if chosen is not None
                                               and len(chosen) else "")
    fig, more = rd_figure(points[points["dataset"] == dataset], infos, chosen, log_bpp, title, bpp_range)
    if fig is None:
        return None, notes + more
    return save_figure(fig, out_dir / "figures" / f"rd_{dataset}")[0], notes + more
