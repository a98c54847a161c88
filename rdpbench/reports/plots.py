"""RD plots (matplotlib, Agg): per dataset, one panel per metric, measured curves solid, published dashed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports run headless (CI, clusters); no display backend is ever needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
import pandas as pd  # noqa: E402

from rdpbench.errors import ConfigError  # noqa: E402
from rdpbench.reports.bdrate import higher_is_better  # noqa: E402

# Published curves drawn by default: classical anchors, two CompressAI MSE models, MS-ILLM.
DEFAULT_PUBLISHED = ("jpeg", "webp", "bpg_444_x265_ycbcr", "vtm", "compressai-mbt2018_mse_cuda",
                     "compressai-cheng2020-attn_mse_cuda", "MS-ILLM", "No-GAN")
# Published points beyond this multiple of the largest measured bpp are cut, so curves that
# start at 0.1-0.2 bpp do not squeeze an ultra-low-rate plot into its left edge.
PUBLISHED_BPP_FACTOR = 3.0
LEGEND_COLUMNS = 4
UNITS = {"psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM", "lpips": "LPIPS", "dists": "DISTS", "clipsim": "CLIPSim",
         "fid": "FID", "kid": "KID", "fid_swav": "FID-SwAV"}


def _axis_label(metric: str) -> str:
    try:
        arrow = "higher is better" if higher_is_better(metric) else "lower is better"
    except ConfigError:  # a metric with no known direction is still plotted, just unannotated
        arrow = "direction unknown"
    return f"{UNITS.get(metric, metric)} ({arrow})"


def rd_figure(points: pd.DataFrame, metrics: list[str], published: pd.DataFrame | None = None,
              log_bpp: bool = False, title: str = "") -> tuple[plt.Figure | None, list[str]]:
    """Figure for one dataset's `aggregate` points; returns (figure or None, notes)."""
    notes: list[str] = []
    published = published if published is not None else pd.DataFrame(columns=["codec", "bpp"])
    if not published.empty and not points.empty:
        limit = PUBLISHED_BPP_FACTOR * points["bpp"].max()
        if (published["bpp"] > limit).any():
            notes.append(f"published points above {limit:.3g} bpp ({PUBLISHED_BPP_FACTOR:g}x the largest measured "
                         f"rate) are not drawn")
        published = published[published["bpp"] <= limit]
    shown = [m for m in metrics if (m in points and points[m].notna().any())
             or (m in published and published[m].notna().any())]
    notes += [f"{m}: no values (not computed or failed on every image), panel omitted"
              for m in metrics if m not in shown]
    if not shown:
        return None, notes
    curves = sorted(points["curve"].unique()) if not points.empty else []
    colors = {c: plt.cm.tab10(i % 10) for i, c in enumerate(curves)}
    legend_rows = -(-(len(curves) + published["codec"].nunique()) // LEGEND_COLUMNS)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.8 * len(shown), 3.8 + 0.22 * legend_rows), squeeze=False)
    for ax, metric in zip(axes[0], shown):
        for curve in curves:
            data = points[points["curve"] == curve].dropna(subset=[metric]).sort_values("bpp")
            if not data.empty:
                ax.plot(data["bpp"], data[metric], "-o", ms=4, color=colors[curve], label=curve)
        for index, (codec, data) in enumerate(published.groupby("codec", sort=True)) if metric in published else []:
            data = data.dropna(subset=[metric]).sort_values("bpp")
            if not data.empty:
                ax.plot(data["bpp"], data[metric], "--", marker="x", ms=3, lw=1, alpha=0.8,
                        color=plt.cm.Dark2(index % 8), label=f"{codec} (published)")
        if log_bpp:
            # Ultra-low-rate plots often span less than a decade: label 1-2-5 ticks in plain numbers.
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("bits per pixel" + (" (log scale)" if log_bpp else ""))
        ax.set_ylabel(_axis_label(metric))
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = {}, []
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    fig.legend([handles[label] for label in labels], labels, loc="lower center", ncol=LEGEND_COLUMNS, fontsize=8,
               frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.22 * legend_rows / fig.get_figheight() + 0.02, 1, 1))
    return fig, notes


def save_figure(fig: plt.Figure, stem: Path) -> list[Path]:
    """PNG (for the HTML report) and PDF (for papers); closes the figure."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=110)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths

