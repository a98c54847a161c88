"""Tables for people: the per-op summary and the BD-rate matrix, as CSV, Markdown and LaTeX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rdpbench.reports.curves import point_metrics


def summary_table(points: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x codec x op: images, mean bpp, mean metrics; a note flags means over fewer images."""
    metrics = point_metrics(points)
    table = points[["dataset", "curve", "op_label", "n_images", "bpp", *metrics]].rename(
        columns={"curve": "codec", "op_label": "op", "n_images": "images"}).reset_index(drop=True)
    notes = ["; ".join(f"{m} on {row[f'n_{m}']}/{row['n_images']} images" for m in metrics
                       if 0 < row[f"n_{m}"] < row["n_images"]) for _, row in points.iterrows()]
    if any(notes):
        table["note"] = notes
    return table


def _cell(row: pd.Series) -> str:
    if row["status"] != "ok":
        return "error"
    rate = "n/a" if np.isnan(row["bd_rate_pct"]) else f"{row['bd_rate_pct']:+.2f}%"
    metric = "n/a" if np.isnan(row["bd_metric"]) else f"{row['bd_metric']:+.4g}"
    return f"{rate} ({metric})" + (" *" if isinstance(row["note"], str) and row["note"] else "")


def bd_matrix(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Pivot of `bdrate.bd_table`: rows dataset x codec, one column per metric holding
    "BD-rate% (BD-metric)"; returns the matrix and the footnotes (errors, Pareto notes)."""
    notes = [f"{r.dataset}" + (f" / {r.codec}" if isinstance(r.codec, str) else "")
             + (f" / {r.metric}" if isinstance(r.metric, str) else "") + f": {r.status}"
             for r in table.itertuples() if r.status != "ok"]
    notes += [f"{r.dataset} / {r.codec} / {r.metric}: {r.note}" for r in table.itertuples()
              if r.status == "ok" and isinstance(r.note, str) and r.note]
    pairs = table.dropna(subset=["codec", "metric"])
    if pairs.empty:
        return pd.DataFrame(), notes
    matrix = pairs.assign(cell=pairs.apply(_cell, axis=1)).pivot(index=["dataset", "codec"], columns="metric",
                                                                 values="cell")
    matrix.columns.name = None
    return matrix.fillna("").reset_index(), notes


def to_markdown(frame: pd.DataFrame, floatfmt: str = ".4g") -> str:
    if frame.empty:
        return "_(empty)_"
    return frame.to_markdown(index=False, floatfmt=floatfmt)


def write_table(frame: pd.DataFrame, stem: Path, caption: str, notes: list[str] | None = None,
                csv_frame: pd.DataFrame | None = None) -> list[Path]:
    """stem.csv (full precision; `csv_frame` when the machine-readable form differs from the
    displayed one), stem.md (caption, table, notes) and stem.tex (caption, table; the notes as
    LaTeX comments, since a paper words its own footnotes)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    (frame if csv_frame is None else csv_frame).to_csv(paths[0], index=False)
    note_lines = "".join(f"- {n}\n" for n in notes or [])
    paths[1].write_text(f"{caption}\n\n{to_markdown(frame)}\n\n{note_lines}")
    latex = frame.to_latex(index=False, float_format="%.4g", caption=caption, escape=True, na_rep="--") \
        if not frame.empty else f"% {caption}: empty table\n"
    paths[2].write_text(latex + "".join(f"% note: {n}\n" for n in notes or []))
    return paths
