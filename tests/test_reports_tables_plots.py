"""Aggregation, tables and RD plots on the synthetic store (and the bad-input cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rdpbench.reports.curves import aggregate
from rdpbench.reports.plots import rd_figure, save_figure
from rdpbench.reports.published import load_published, published_for
from rdpbench.reports.tables import bd_matrix, summary_table, write_table
from rdpbench.reports.bdrate import bd_table
from rdpbench.results.store import load_rows
from test_reports_fixtures import CODECS, write_store

REPO = Path(__file__).resolve().parents[1]


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
    table = bd_table(points, "jpeg", ["psnr", "lpips"], "pchip")
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
    fig, notes = rd_figure(points, ["psnr", "lpips"], published, log_bpp=True)
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert {"jpeg", "webp", "diffc", "single", "jpeg (published)", "MS-ILLM (published)"} <= set(labels)
    dashed = [line for ax in fig.axes for line in ax.get_lines() if line.get_label().endswith("(published)")]
    assert dashed and all(line.get_linestyle() == "--" for line in dashed)
    assert fig.axes[0].get_xscale() == "log"
    assert any("published points above" in n for n in notes)  # CompressAI JPEG goes up to ~3 bpp
    paths = save_figure(fig, tmp_path / "rd")
    assert all(p.stat().st_size > 1000 for p in paths)


def test_rd_figure_omits_all_missing_metric_with_a_note(points):
    fig, notes = rd_figure(points, ["psnr", "lpips"])
    assert len(fig.axes) == 1 and "PSNR" in fig.axes[0].get_ylabel()
    assert any(n.startswith("lpips: no values") for n in notes)
    fig, notes = rd_figure(points, ["lpips"])
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
    table = bd_table(points, "jpeg", ["fid"])
    assert table.status.tolist() == ["ok"] and table.better.iloc[0] == "lower"
    assert table.bd_rate_pct.iloc[0] == pytest.approx(-20.0, abs=1e-6)  # webp: same FID at 0.8x the rate
    assert table.bd_metric.iloc[0] < 0
    only_psnr = load_points(root, ["psnr"])[1]
    assert "fid" not in only_psnr and "psnr" in only_psnr
