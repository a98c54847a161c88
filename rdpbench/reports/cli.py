"""Command line: `python -m rdpbench.reports.cli <command> --results R ...` (wired to make targets).

Commands: bd-rate, plots, visual, report, convert-published, regress, baselines.
Exit status 0 on success, 1 when `regress` finds a difference, 2 on bad input (the message
says what to fix).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from rdpbench.errors import RdpbenchError
from rdpbench.metrics.base import MetricInfo
from rdpbench.paths import published_anchors_dir
from rdpbench.reports.bdrate import DEFAULT_ANCHOR, METHODS, bd_table
from rdpbench.reports.curves import load_points, point_metrics
from rdpbench.reports.html_report import ReportOptions, build_report
from rdpbench.reports.plots import save_figure, write_rd_figure
from rdpbench.reports.published import convert_all, load_published, published_points
from rdpbench.reports.tables import bd_matrix, to_markdown, write_table
from rdpbench.reports.visual import original_for, visual_grid
from rdpbench.results.store import load_metric_info


def _load(results: Path, metrics: list[str] | None = None
          ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, MetricInfo]]:
    """(rows, points, metric descriptions of the point metrics) of a results store."""
    rows, points = load_points(results, metrics)
    if rows.empty:
        raise RdpbenchError(f"no result rows under {results}/rows/; run the benchmark first "
                            f"(python run.py ... results_dir={results}) or pass --results")
    stored = load_metric_info(results)
    missing = [m for m in point_metrics(points) if m not in stored]
    if missing:
        print(f"metrics {missing} have no description (label, direction) in {results}/metrics/: left out; rerun "
              f"the run command (finished images are skipped) to record them", file=sys.stderr)
    return rows, points, {m: stored[m] for m in point_metrics(points) if m in stored}


def cmd_bd_rate(args: argparse.Namespace) -> int:
    rows, points, infos = _load(args.results, args.metrics)
    published = load_published(args.published) if args.published else pd.DataFrame()
    anchors = [published_points(published, rows, str(d), None)[0] for d in points["dataset"].unique()] \
        if len(published) else []
    table = bd_table(points, args.anchor, infos, args.method, pd.concat(anchors) if anchors else None)
    matrix, notes = bd_matrix(table)
    out = args.out or args.results / "reports"
    paths = write_table(matrix, out / "tables" / "bd_rate", f"BD-rate vs {args.anchor} ({args.method})", notes,
                        csv_frame=table)
    print(f"BD-rate vs anchor {args.anchor!r}, interpolation {METHODS[args.method]}; cells: BD-rate% (BD-metric)\n")
    print(to_markdown(matrix))
    for note in notes:
        print(f"- {note}")
    print("\nwritten: " + ", ".join(str(p) for p in paths))
    anchor_missing = table["codec"].isna() & table["metric"].isna()
    if anchor_missing.all():
        print(f"error: anchor {args.anchor!r} is in no dataset of {args.results}; choose a measured curve "
              f"({sorted(points['curve'].unique())}) or a published one (`published:NAME`, see the notes above)",
              file=sys.stderr)
        return 2
    return 0


def cmd_plots(args: argparse.Namespace) -> int:
    rows, points, infos = _load(args.results, args.metrics)
    published = load_published(args.published) if args.published else pd.DataFrame()
    out = args.out or args.results / "reports"
    for dataset in sorted(points["dataset"].unique()):
        path, notes = write_rd_figure(rows, points, infos, published, str(dataset), out, args.log_bpp,
                                      tuple(args.bpp_range) if args.bpp_range else None)
        for note in notes:
            print(f"{dataset}: {note}")
        if path is not None:
            print(f"written: {path}, {path.with_suffix('.pdf')}")
    return 0


def cmd_visual(args: argparse.Namespace) -> int:
    rows = _load(args.results)[0]
    out = args.out or args.results / "reports"
    for image in args.images:
        original, missing = original_for(rows, args.dataset, image, args.originals, args.data_root)
        if missing:
            print(f"{missing}; the grid shows reconstructions only")
        fig, notes = visual_grid(rows, args.results, args.dataset, image, args.bpp, original,
                                 tuple(args.crop) if args.crop else None)
        for note in notes:
            print(note)
        if fig is not None:
            stem = out / "figures" / f"visual_{args.dataset}_{image}"
            print("written: " + ", ".join(str(p) for p in save_figure(fig, stem)))
    return 0


def cmd_knob(args: argparse.Namespace) -> int:
    from rdpbench.reports.knobs import write_knob_figure

    rows, points, infos = _load(args.results, args.metrics)
    points = points[points["dataset"] == args.dataset]
    path = write_knob_figure(points, infos, args.curve, args.knob, args.metrics or list(infos),
                             args.out or args.results / "reports")
    print(f"written: {path}, {path.with_suffix('.pdf')}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    options = ReportOptions(anchor=args.anchor, metrics=args.metrics, method=args.method, log_bpp=args.log_bpp,
                            bpp_range=tuple(args.bpp_range) if args.bpp_range else None,
                            published_dir=args.published, visual_bpp=args.visual_bpp,
                            visual_images=args.visual_images, originals_dir=args.originals, data_root=args.data_root,
                            crop=tuple(args.crop) if args.crop else None)
    html_path, md_path = build_report(args.results, args.out or args.results / "reports", options)
    print(f"written: {html_path}\nwritten: {md_path}")
    return 0


def cmd_convert_published(args: argparse.Namespace) -> int:
    for path in convert_all(args.source, args.dest):
        print(f"written: {path}")
    return 0


def cmd_regress(args: argparse.Namespace) -> int:
    from rdpbench.reports import regress

    return regress.main(args.baselines, record=args.command == "baselines", keep=args.keep)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m rdpbench.reports.cli", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        return sub

    for name, handler, help_text in (("bd-rate", cmd_bd_rate, "BD-rate table vs an anchor (CSV, Markdown, LaTeX)"),
                                     ("plots", cmd_plots, "RD plots per dataset (PNG, PDF)"),
                                     ("visual", cmd_visual, "visual comparison grid for chosen images"),
                                     ("report", cmd_report, "self-contained HTML + Markdown report")):
        sub = add(name, handler, help_text)
        sub.add_argument("--results", type=Path, default=Path("results"), help="results directory (default results)")
        sub.add_argument("--out", type=Path, default=None, help="output directory (default <results>/reports)")
        if name != "visual":
            sub.add_argument("--metrics", nargs="+", default=None, help="metric columns (default: all in the store)")
        if name in ("bd-rate", "report"):
            sub.add_argument("--anchor", default=DEFAULT_ANCHOR,
                             help=f"anchor: a measured codec label, or a published curve as published:NAME "
                                  f"(e.g. published:StableCodec); default {DEFAULT_ANCHOR}")
            sub.add_argument("--method", choices=sorted(METHODS), default="pchip", help="BD interpolation")
        if name in ("plots", "report"):
            sub.add_argument("--linear-bpp", dest="log_bpp", action="store_false", help="linear bpp axis (default log)")
            sub.add_argument("--bpp-range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                             help="bpp axis range (default: the measured range)")
        if name in ("bd-rate", "plots", "report"):
            sub.add_argument("--published", type=Path, default=Path("results/published"),
                             help="converted published curves (default results/published)")
        if name in ("visual", "report"):
            sub.add_argument("--originals", type=Path, default=None, help="folder with the original images")
            sub.add_argument("--data-root", type=Path, default=os.environ.get("RDPBENCH_DATA_ROOT"),
                             help="data root holding the originals at the paths the rows record (default "
                                  "$RDPBENCH_DATA_ROOT, then the run's own data root); each is checked by SHA-256")
            sub.add_argument("--crop", type=int, nargs=3, metavar=("X", "Y", "SIZE"), default=None)
        if name == "visual":
            sub.add_argument("--dataset", required=True)
            sub.add_argument("--images", nargs="+", required=True)
            sub.add_argument("--bpp", type=float, default=0.05, help="target bpp (nearest op is shown)")
        if name == "report":
            sub.add_argument("--visual-bpp", type=float, default=0.05)
            sub.add_argument("--visual-images", type=int, default=2, help="images per dataset in visual grids")
    knob = add("knob", cmd_knob, "metrics against one operating-point knob, the others held (e.g. dual's dp)")
    knob.add_argument("--results", type=Path, default=Path("results"), help="results directory (default results)")
    knob.add_argument("--out", type=Path, default=None, help="output directory (default <results>/reports)")
    knob.add_argument("--curve", required=True, help="the codec label (curve) to sweep, e.g. dual_gaussian")
    knob.add_argument("--knob", required=True, help="the knob on the x axis, e.g. dp")
    knob.add_argument("--dataset", required=True, help="the dataset (label) of the store to plot, e.g. kodak")
    knob.add_argument("--metrics", nargs="+", default=None, help="metric columns (default: all in the store)")
    convert = add("convert-published", cmd_convert_published, "re-create results/published/*.csv")
    convert.add_argument("--source", type=Path, default=published_anchors_dir(),
                         help="the published data (default ../shared/anchors/published next to the checkout)")
    convert.add_argument("--dest", type=Path, default=Path("results/published"))
    for name, help_text in (("regress", "recompute the RD baselines and compare"),
                            ("baselines", "re-record the RD baselines on purpose")):
        sub = add(name, cmd_regress, help_text)
        sub.add_argument("--baselines", type=Path, default=Path("results/baselines"))
        sub.add_argument("--keep", type=Path, default=None, help="keep the recomputed results store here")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except RdpbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
