"""Aggregation, tables and RD plots on the synthetic store (and the bad-input cases)."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors

from rdpbench.metrics import metric_info
from rdpbench.reports.curves import aggregate
from rdpbench.reports.plots import curve_styles, rd_figure, save_figure
from rdpbench.reports.published import load_published, published_for
from rdpbench.reports.tables import bd_matrix, summary_table, write_table
from rdpbench.reports.bdrate import bd_table
from rdpbench.results.store import load_rows
from test_reports_fixtures import CODECS, write_store

REPO = Path(__file__).resolve().parents[1]
INFOS = {name: metric_info(name) for name in ("psnr", "lpips")}  # as the runner writes them into the store


@pytest.fixture(scope="module")
def points(tmp_path_factory) -> pd.DataFrame:
    return aggregate(load_rows(write_store(tmp_path_factory.mktemp("store"))))


def test_aggregate_means_over_images(points):
    jpeg = points[points.curve == "jpeg"].set_index("op_label")
    # img1 has 1.1x the rate of img0 and +-0.5 dB around the nominal PSNR
    assert jpeg.loc["q=5", "bpp"] == pytest.approx(0.04 * 1.05)
    assert jpeg.loc["q=5", "psnr"] == pytest.approx(23.0)
    assert (jpeg["n_images"] == 2).all() and (jpeg["n_lpips"] == 0).all()
    assert list(jpeg["bpp"]) == sorted(jpeg["bpp"])


def test_summary_flags_partial_means():
    points = pd.DataFrame({"dataset": ["d", "d"], "curve": ["c", "c"], "op_label": ["a", "b"], "n_images": [4, 4],
                           "bpp": [0.1, 0.2], "psnr": [20.0, 22.0], "n_psnr": [4, 3]})
    table = summary_table(points)
    assert list(table["note"]) == ["", "psnr on 3/4 images"]
    assert list(table.columns[:5]) == ["dataset", "codec", "op", "images", "bpp"]


def test_bd_matrix_and_writers(points, tmp_path):
    table = bd_table(points, "jpeg", INFOS, "pchip")
    matrix, notes = bd_matrix(table)
    webp = matrix[matrix.codec == "webp"]["psnr"].iloc[0]
    assert webp.startswith("-20.00%")  # webp = jpeg at 0.8x the rate
    assert matrix[matrix.codec == "single"]["psnr"].iloc[0] == "error"
    assert any("diffc" in n and "Pareto front" in n for n in notes)
    assert any("no lpips values" in n for n in notes)
    paths = write_table(matrix, tmp_path / "bd", "BD-rate vs jpeg", notes, csv_frame=table)
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    assert pd.read_csv(paths[0])["bd_rate_pct"].notna().sum() == 2  # webp and diffc on psnr
    assert "| webp" in paths[1].read_text() and "no lpips values" in paths[1].read_text()
    assert "\\begin{tabular}" in paths[2].read_text() and "BD-rate vs jpeg" in paths[2].read_text()


def test_rd_figure_draws_measured_and_published_curves(points, tmp_path):
    published = published_for(load_published(REPO / "results" / "published"), "kodak", ["jpeg", "MS-ILLM"])
    assert set(published.codec) == {"jpeg", "MS-ILLM"}
    fig, notes = rd_figure(points, INFOS, published, log_bpp=True, bpp_range=(0.008, 0.5))
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert {"JPEG", "WebP", "DiffC", "single", "JPEG (published)", "MS-ILLM (published)"} <= set(labels)
    dashed = [line for ax in fig.axes for line in ax.get_lines() if line.get_label().endswith("(published)")]
    assert dashed and all(line.get_linestyle() == "--" for line in dashed)
    assert fig.axes[0].get_xscale() == "log"
    assert any("published point(s) outside it not drawn" in n for n in notes)  # CompressAI JPEG goes to ~3 bpp
    paths = save_figure(fig, tmp_path / "rd")
    assert all(p.stat().st_size > 1000 for p in paths)


def test_rd_plot_is_readable_at_ultra_low_rates(points):
    """Distinct colours, one colour family per codec (measured and published), Pareto fronts as lines with
    dominated points faint, and a bpp axis spanning the measured range, not the published one."""
    published = published_for(load_published(REPO / "results" / "published"), "kodak",
                              ["jpeg", "webp", "vtm", "av1", "bpg_444_x265_ycbcr", "No-GAN", "StableCodec"])
    fig, _ = rd_figure(points, {"psnr": INFOS["psnr"]}, published, log_bpp=True, bpp_range=(0.005, 1.0))
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    colors = {label: mcolors.to_rgb(line.get_color()) for label, line in lines.items()}
    assert len(set(colors.values())) == len(colors) >= 10, "every curve has its own colour"
    hue = {label: colorsys.rgb_to_hls(*color)[0] for label, color in colors.items()}
    assert abs(hue["JPEG"] - hue["JPEG (published)"]) < 0.02 and abs(hue["WebP"] - hue["WebP (published)"]) < 0.02
    assert abs(hue["JPEG"] - hue["WebP"]) > 0.05
    diffc = lines["DiffC"]  # its fixture curve is non-monotone: the line is the front, the rest is faint
    assert list(diffc.get_xdata()) == sorted(diffc.get_xdata()) and len(diffc.get_xdata()) == 3
    faint = [line for line in ax.get_lines() if line.get_label().startswith("_") and line.get_alpha() == 0.25]
    assert any(len(line.get_xdata()) == 2 for line in faint)
    fig, notes = rd_figure(points, {"psnr": INFOS["psnr"]}, published, log_bpp=True, title="kodak: measured on 2")
    low, high = fig.axes[0].get_xlim()  # default: the measured rates within 0.003-0.1 bpp, wherever published go
    ultra_low = points.bpp[points.bpp <= 0.1]
    assert low == pytest.approx(ultra_low.min() / 1.12) and high == pytest.approx(ultra_low.max() * 1.12)
    assert fig.texts[0].get_text() == "kodak: measured on 2"
    assert any("published point(s) outside it not drawn" in n for n in notes)
    assert any("measured operating point(s) outside it not drawn" in n for n in notes)  # the fixture's 0.16 bpp
    styles = curve_styles(["resample_avif", "avif"], ["av1", "vtm"])
    assert styles[("measured", "resample_avif")].label == "AVIF (resampled)"
    assert len({s.color for s in styles.values()}) == 4
    av1 = [s for (kind, name), s in styles.items() if name != "vtm"]  # one family: markers and lines differ
    assert len({(s.marker, s.linestyle) for s in av1}) == 3


def test_rd_figure_omits_all_missing_metric_with_a_note(points):
    fig, notes = rd_figure(points, INFOS)
    assert len(fig.axes) == 1 and "PSNR (dB), higher is better" == fig.axes[0].get_ylabel()
    assert any(n.startswith("lpips: no measured values") for n in notes)
    fig, notes = rd_figure(points, {"lpips": INFOS["lpips"]})
    assert fig is None and notes


def test_codec_with_two_hashes_gets_two_curves(tmp_path):
    root = write_store(tmp_path, codecs={"jpeg": CODECS["jpeg"], "webp": CODECS["webp"]})
    write_store(root, codecs={"jpeg": ("e" * 64, CODECS["jpeg"][1][:2])})
    points = aggregate(load_rows(root))
    assert sorted(points.curve.unique()) == ["jpeg [aaaaaaaa]", "jpeg [eeeeeeee]", "webp"]
    assert np.isclose(points[points.curve == "jpeg [eeeeeeee]"]["bpp"].max(), 0.04 * 1.05)


def test_dataset_level_metrics_join_the_curves(tmp_path):
    from rdpbench.reports.curves import load_points
    from rdpbench.results.store import ResultStore

    root = write_store(tmp_path, codecs={"jpeg": CODECS["jpeg"], "webp": CODECS["webp"]})
    store = ResultStore(root)
    for codec, (config_hash, ops) in (("jpeg", CODECS["jpeg"]), ("webp", CODECS["webp"])):
        store.write_dataset_metrics("kodak", store.codec_key(codec, config_hash), [
            {"dataset": "kodak", "codec": codec, "config_hash": config_hash, "op_label": op, "bpp": bpp,
             "metric": "fid", "value": 100.0 - psnr * 3, "reason": "", "implementation": "FID (test)",
             "n_images": 2} for op, bpp, psnr, _ in ops])
    rows, points = load_points(root)
    assert "fid" in points and (points["n_fid"] == 2).all()
    table = bd_table(points, "jpeg", {"fid": metric_info("fid")})
    assert table.status.tolist() == ["ok"] and table.better.iloc[0] == "lower"
    assert table.bd_rate_pct.iloc[0] == pytest.approx(-20.0, abs=1e-6)  # webp: same FID at 0.8x the rate
    assert table.bd_metric.iloc[0] < 0
    only_psnr = load_points(root, ["psnr"])[1]
    assert "fid" not in only_psnr and "psnr" in only_psnr
