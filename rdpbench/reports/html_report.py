"""One self-contained HTML report (images as base64 data URIs) plus a Markdown twin, for a results dir.

The report is built from blocks (heading, paragraph, table, figure, list) rendered twice, so
the HTML and Markdown always say the same thing. Every problem met on the way (no rows, a
missing anchor, an all-missing metric, a single-point curve) becomes a visible note instead of
stopping the build.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from rdpbench.errors import ConfigError, RdpbenchError
from rdpbench.metrics.base import MetricInfo
from rdpbench.reports.bdrate import DEFAULT_ANCHOR, METHODS, bd_table
from rdpbench.reports.curves import load_points, point_metrics
from rdpbench.reports.plots import DEFAULT_PUBLISHED, save_figure, write_rd_figure
from rdpbench.reports.published import load_published, published_points
from rdpbench.reports.tables import bd_matrix, summary_table, to_markdown, write_table
from rdpbench.reports.visual import original_for, visual_grid
from rdpbench.results.store import load_dataset_metrics, load_failures, load_metric_info


@dataclass
class ReportOptions:
    anchor: str = DEFAULT_ANCHOR
    metrics: list[str] | None = None  # None: every metric in the store
    method: str = "pchip"
    log_bpp: bool = True
    bpp_range: tuple[float, float] | None = None  # None: the measured range
    published_dir: Path | None = Path("results/published")
    published_codecs: tuple[str, ...] | None = DEFAULT_PUBLISHED
    visual_bpp: float = 0.05
    visual_images: int = 2  # first N images per dataset that have reconstructions
    originals_dir: Path | None = None
    data_root: Path | None = None  # where originals are looked up by the path recorded in the rows
    crop: tuple[int, int, int] | None = None


@dataclass
class Block:
    kind: str  # h1 | h2 | h3 | p | table | figure | list
    text: str = ""
    table: pd.DataFrame | None = None
    path: Path | None = None
    items: list[str] = field(default_factory=list)


EXPLANATION = [
    "Rate is bits per pixel: 8 x (bitstream bytes, headers and side information included) / (width x height "
    "of the original image). Every measured image was decoded from its stored bitstream.",
    "Each point on a curve is one codec operating point (`op`, the codec's knob values, e.g. `quality=5`); its "
    "bpp and metric values are means over the dataset's images of per-image values (as CompressAI reports). "
    "`images` counts the images in each mean; a `note` column appears when a metric is missing on some of them.",
    "Metric columns use the implementations listed under Metrics; the axis labels and the `better` column say "
    "whether higher or lower is better.",
    "In the RD plots each line is a curve's Pareto front for that panel's metric (no other point of the curve "
    "has both less rate and better quality); operating points off the front are drawn as faint markers. A "
    "codec's measured and published curves share a colour family. The bpp axis spans the measured rates in the "
    "ultra-low range (0.003-0.1 bpp; `--bpp-range` for another); the title says how many of the dataset's "
    "images were measured.",
    "A codec label that appears with more than one configuration (config hash) in a dataset is shown as "
    "`<codec> [<hash8>]`, one curve per configuration: configurations are never averaged together.",
    "Published curves (dashed, labelled `(published)`) are other people's numbers on the same dataset, "
    "converted from their sources (results/published/SOURCES.md); they were not re-measured here and average "
    "over their whole dataset, so compare them with measured curves only when those cover the same images "
    "(see `images`). Published LPIPS is drawn only when the source used the measured LPIPS backbone.",
]


def _bd_explanation(anchor: str, method: str) -> str:
    return (f"BD-rate: average rate difference (percent) of a codec against the anchor `{anchor}` at equal quality, "
            f"integrated over the quality range both curves cover; negative means the codec needs fewer bits. "
            f"BD-metric (in brackets): average metric difference at equal rate over the common log-rate range, in "
            f"the metric's units (for lower-is-better metrics such as LPIPS, negative is better). Interpolation: "
            f"{METHODS[method]}. Curves are first reduced to their Pareto front (points beaten on both rate and "
            f"quality by another point of the same curve are dropped; a `*` marks cells where that happened or "
            f"another note applies). Cells saying `error` could not be computed; the notes say why.")


def _impl_table(rows: pd.DataFrame, dataset_metrics: pd.DataFrame, infos: dict[str, MetricInfo]) -> pd.DataFrame:
    records: dict[str, set[str]] = {}
    for impl in rows.get("metric_impl", pd.Series(dtype=object)).dropna():
        for metric, text in json.loads(impl).items():
            records.setdefault(metric, set()).add(text)
    for metric, text in zip(dataset_metrics.get("metric", []), dataset_metrics.get("implementation", [])):
        records.setdefault(metric, set()).add(f"{text} (dataset-level)")
    return pd.DataFrame([{"metric": m, "label": infos[m].label if m in infos else m,
                          "better": infos[m].better if m in infos else "not recorded",
                          "implementation": "; ".join(sorted(t))} for m, t in sorted(records.items())])


def _error_counts(rows: pd.DataFrame) -> list[str]:
    counts: dict[tuple[str, str], int] = {}
    for codec, errors in zip(rows.get("codec", []), rows.get("metric_errors", [])):
        for metric, reason in (json.loads(errors) if isinstance(errors, str) else {}).items():
            counts[(f"{codec}: {metric}", reason)] = counts.get((f"{codec}: {metric}", reason), 0) + 1
    return [f"{what} missing on {n} row(s): {reason}" for (what, reason), n in sorted(counts.items())]


def _provenance(rows: pd.DataFrame) -> pd.DataFrame:
    columns = ["dataset", "codec", "codec_name", "config_hash", "codec_config", "git_commit"]
    frame = rows[[c for c in columns if c in rows]].drop_duplicates(subset=["dataset", "codec", "config_hash"])
    return frame.assign(config_hash=frame["config_hash"].astype(str).str[:8]).sort_values(["dataset", "codec"])


def report_blocks(results_dir: Path, out_dir: Path, options: ReportOptions) -> list[Block]:
    """Compute every table and figure (written under out_dir) and return the report's blocks."""
    if options.method not in METHODS:
        raise ConfigError(f"unknown BD interpolation method {options.method!r}; choose one of {sorted(METHODS)}")
    rows, points = load_points(results_dir, options.metrics)
    blocks = [Block("h1", "rdpbench report"),
              Block("p", f"Results directory `{results_dir}`, generated "
                         f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC."),
              Block("h2", "How to read this report"), Block("list", items=EXPLANATION)]
    if rows.empty:
        return blocks + [Block("p", f"No result rows found under `{results_dir}/rows/`. Run the benchmark first, "
                                    f"e.g. `python run.py codec=classical dataset=sample results_dir={results_dir}`.")]
    metrics = point_metrics(points)
    dataset_metrics = load_dataset_metrics(results_dir)
    stored = load_metric_info(results_dir)
    infos = {m: stored[m] for m in metrics if m in stored}
    problems = [f"requested metric `{m}` is not in the results" for m in options.metrics or [] if m not in metrics]
    problems += [f"metric `{m}` has no description (label, direction) in the store, so it is not plotted or "
                 f"BD-rated; rerun the run command (finished images are skipped) to record it"
                 for m in metrics if m not in stored]
    blocks += [Block("p", f"{len(rows)} rows: {rows['dataset'].nunique()} dataset(s), {points['curve'].nunique()} "
                          f"codec curve(s), {rows['image'].nunique()} image(s)."),
               Block("h2", "Metrics"), Block("table", table=_impl_table(rows, dataset_metrics, infos))]
    published = load_published(options.published_dir) if options.published_dir else pd.DataFrame()
    codecs = tuple(options.published_codecs) if options.published_codecs is not None else None
    anchors = []  # every published dataset-mean curve may be the BD anchor
    for dataset, data in points.groupby("dataset", sort=True):
        summary = summary_table(data)
        blocks += [Block("h2", f"Dataset `{dataset}`"), Block("h3", "Mean over images per operating point"),
                   Block("table", table=summary.drop(columns="dataset"))]
        write_table(summary, out_dir / "tables" / f"summary_{dataset}", f"Summary, {dataset}")
        path, notes = write_rd_figure(rows, points, infos, published, str(dataset), out_dir, options.log_bpp,
                                      options.bpp_range, codecs)
        problems += [f"{dataset}: {n}" for n in notes]
        if path is not None:
            blocks.append(Block("figure", f"RD curves on {dataset} (PDF next to the PNG in figures/)", path=path))
        if len(published):
            anchors.append(published_points(published, rows, str(dataset), None)[0])
    table = bd_table(points, options.anchor, infos, options.method,
                     pd.concat(anchors, ignore_index=True) if anchors else None)
    matrix, notes = bd_matrix(table)
    write_table(matrix, out_dir / "tables" / "bd_rate", f"BD-rate vs {options.anchor} ({options.method})", notes,
                csv_frame=table)
    blocks += [Block("h2", f"BD-rate against `{options.anchor}`"), Block("p", _bd_explanation(options.anchor,
                                                                                             options.method)),
               Block("table", table=matrix), Block("list", items=notes)]
    blocks += _visual_blocks(rows, results_dir, out_dir, options, problems)
    if not dataset_metrics.empty:
        blocks += [Block("h2", "Dataset-level metrics (FID, KID, ...)"),
                   Block("p", "Computed over all images of a dataset per operating point (also drawn and BD-rated "
                              "above); `reason` says why a value is missing."),
                   Block("table", table=dataset_metrics)]
    failures = load_failures(results_dir)
    problems += [f"{f.dataset}/{f.codec_key}/{f.image}: {f.error}" for f in failures.itertuples()]
    problems += _error_counts(rows)
    blocks += [Block("h2", "Notes and problems"), Block("list", items=problems or ["none"]),
               Block("h2", "Provenance"), Block("table", table=_provenance(rows))]
    return blocks


def _visual_blocks(rows: pd.DataFrame, results_dir: Path, out_dir: Path, options: ReportOptions,
                   problems: list[str]) -> list[Block]:
    blocks = [Block("h2", f"Visual comparison near {options.visual_bpp:g} bpp"),
              Block("p", "The same crop of each codec's decoded image at the operating point nearest the target "
                         "rate (each panel names the codec, its actual bpp on this image and the op).")]
    with_recon = rows[rows.get("recon_path", pd.Series("", index=rows.index)).fillna("").astype(bool)]
    for dataset, data in with_recon.groupby("dataset", sort=True):
        for image in sorted(data["image"].unique())[:options.visual_images]:
            original, missing = original_for(rows, str(dataset), image, options.originals_dir, options.data_root)
            try:
                fig, notes = visual_grid(rows, results_dir, str(dataset), image, options.visual_bpp, original,
                                         options.crop)
            except RdpbenchError as exc:
                fig, notes = None, [f"{dataset}/{image}: {exc}"]
            problems += notes + ([missing] if missing else [])
            if fig is not None:
                path = save_figure(fig, out_dir / "figures" / f"visual_{dataset}_{image}")[0]
                blocks.append(Block("figure", f"{dataset} / {image}", path=path))
    return blocks


def _html_table(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty:
        return "<p><em>(empty)</em></p>"
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0, classes="data")


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
       "table.data{border-collapse:collapse;font-size:13px;margin:.5em 0}"
       "table.data td,table.data th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
       "figure img{max-width:100%}figcaption{font-size:13px;color:#555}code{background:#f3f3f3}")
IMAGE_CHECK = ("<script>window.addEventListener('load',function(){var i=Array.from(document.images);"
               "var ok=i.filter(function(x){return x.complete&&x.naturalWidth>0}).length;"
               "document.getElementById('image-check').textContent='Self-check: '+ok+'/'+i.length+' images loaded';"
               "});</script>")


def _inline(text: str) -> str:
    """Escape, then render `code` spans (the only Markdown used in report prose)."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def render_html(blocks: list[Block]) -> str:
    body = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3", "p"):
            body.append(f"<{block.kind}>{_inline(block.text)}</{block.kind}>")
        elif block.kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif block.kind == "table":
            body.append(_html_table(block.table))
        elif block.kind == "figure":
            body.append(f'<figure><img src="{_data_uri(block.path)}" alt="{html.escape(block.text)}">'
                        f"<figcaption>{_inline(block.text)}</figcaption></figure>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>rdpbench report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}<p id='image-check'>Self-check: pending</p>"
            f"{IMAGE_CHECK}</body></html>")


def render_markdown(blocks: list[Block], out_dir: Path) -> str:
    lines = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            lines.append("#" * int(block.kind[1]) + " " + block.text)
        elif block.kind == "p":
            lines.append(block.text)
        elif block.kind == "list":
            lines.append("\n".join(f"- {item}" for item in block.items))
        elif block.kind == "table":
            lines.append(to_markdown(block.table if block.table is not None else pd.DataFrame()))
        elif block.kind == "figure":
            lines.append(f"![{block.text}]({block.path.relative_to(out_dir).as_posix()})")
    return "\n\n".join(lines) + "\n"


def build_report(results_dir: Path, out_dir: Path, options: ReportOptions) -> tuple[Path, Path]:
    """Write out_dir/report.html (self-contained) and out_dir/report.md (+ figures/, tables/)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(Path(results_dir), out_dir, options)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    html_path.write_text(render_html(blocks), encoding="utf-8")
    md_path.write_text(render_markdown(blocks, out_dir), encoding="utf-8")
    return html_path, md_path
