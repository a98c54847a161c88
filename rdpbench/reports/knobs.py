"""Knob sweeps: a metric against one operating-point knob, the others held (e.g. `dual`'s dp curve).

An RD plot puts every op on the rate axis; a decoder-side knob such as dp leaves the rate unchanged,
so its effect only shows against the knob itself: one panel per metric, one line per combination
of the other knobs (labelled with its mean bpp), means over the images of the store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rdpbench.errors import RdpbenchError
from rdpbench.metrics.base import MetricInfo
from rdpbench.reports.plots import plt, save_figure


def op_values(op_label: str) -> dict[str, float]:
    """'step=2.0,steps=18,dp=0.5' -> {'step': 2.0, 'steps': 18.0, 'dp': 0.5} (the runner's op labels)."""
    pairs = (part.split("=", 1) for part in str(op_label).split(",") if "=" in part)
    return {name: float(value) for name, value in pairs}


def knob_table(points: pd.DataFrame, curve: str, knob: str) -> pd.DataFrame:
    """The points of one curve (one dataset) with a column per knob; refuses a knob the curve does not have."""
    if points["dataset"].nunique() > 1:
        raise RdpbenchError(f"points of several datasets ({sorted(points['dataset'].unique())}): choose one")
    mine = points[points["curve"] == curve]
    if mine.empty:
        raise RdpbenchError(f"no curve {curve!r} in the store; measured curves: {sorted(points['curve'].unique())}")
    knobs = pd.DataFrame([op_values(label) for label in mine["op_label"]], index=mine.index)
    if knob not in knobs.columns:
        raise RdpbenchError(f"curve {curve!r} has no knob {knob!r}; its knobs: {sorted(knobs.columns)}")
    return pd.concat([mine, knobs], axis=1)


def knob_figure(points: pd.DataFrame, infos: dict[str, MetricInfo], curve: str, knob: str,
                metrics: list[str]) -> plt.Figure:
    table = knob_table(points, curve, knob)
    others = [c for c in table.columns[len(points.columns):] if c != knob]
    metrics = [m for m in metrics if m in table.columns and table[m].notna().any()]
    if not metrics:
        raise RdpbenchError(f"curve {curve!r} has none of the metrics asked for")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for held, group in table.groupby(others, sort=True) if others else [((), table)]:
            held = held if isinstance(held, tuple) else (held,)
            group = group.sort_values(knob)
            label = ", ".join(f"{k}={v:g}" for k, v in zip(others, held)) + f" ({group['bpp'].mean():.4f} bpp)"
            ax.plot(group[knob], group[metric], marker="o", label=label)
        info = infos.get(metric)
        ax.set_xlabel(knob)
        ax.set_ylabel(info.label if info else metric)
        ax.set_title(f"{info.label if info else metric} ({info.better if info else 'higher'} is better)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    images = int(table["n_images"].max())
    fig.suptitle(f"{curve}: {knob} sweep, means over {images} images", fontsize=10)
    fig.tight_layout()
    return fig


def write_knob_figure(points: pd.DataFrame, infos: dict[str, MetricInfo], curve: str, knob: str,
                      metrics: list[str], out_dir: Path) -> Path:
    dataset = "_".join(sorted(points["dataset"].astype(str).unique()))
    fig = knob_figure(points, infos, curve, knob, metrics)
    return save_figure(fig, out_dir / "figures" / f"knob_{dataset}_{curve}_{knob}")[0]
