"""BD-rate / BD-metric: published reference values, exact synthetic cases, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bjontegaard
from rdpbench.errors import ConfigError
from rdpbench.metrics.base import MetricInfo
from rdpbench.reports.bdrate import BDError, bd, bd_table, front
from rdpbench.reports.curves import aggregate, pareto_front

# What the runner writes into the store (rdpbench.metrics.metric_info); reports read nothing else.
PSNR = MetricInfo("psnr", "PSNR", "dB", True, False)
LPIPS = MetricInfo("lpips", "LPIPS", "", False, False)
INFOS = {"psnr": PSNR, "lpips": LPIPS}

# JCTVC-E137 example sets with the PCHIP BD-rates (as fractions) from Netflix VMAF's BD-rate
# calculator tests, as carried in AOSP CTS (hostsidetests/mediapc/videoencodingquality/bdrate/
# .../BdRateCalculatorTests.java): -0.00465215420752807 and -0.018779823450567612.
JCTVC_E137 = [
    ([108048.8736, 61279.976, 33905.6656, 18883.6928], [43.6471, 40.3953, 37.247, 34.2911],
     [108061.2784, 61299.9936, 33928.7472, 18910.912], [43.6768, 40.4232, 37.2761, 34.3147], -0.00465215420752807),
    ([40433.8848, 7622.7456, 2394.488, 1017.6184], [37.5761, 35.3756, 33.8977, 32.0603],
     [40370.12, 7587.0024, 2390.0944, 1017.0984], [37.5982, 35.4025, 33.9194, 32.0822], -0.018779823450567612),
]


@pytest.mark.parametrize("rate_a, psnr_a, rate_t, psnr_t, expected", JCTVC_E137)
def test_pchip_matches_published_jctvc_e137_values(rate_a, psnr_a, rate_t, psnr_t, expected):
    result = bd(front(rate_a, psnr_a, True), front(rate_t, psnr_t, True), PSNR, "pchip")
    assert result.bd_rate == pytest.approx(100 * expected, abs=1e-9)
    assert result.note == ""


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
@pytest.mark.parametrize("rate_a, psnr_a, rate_t, psnr_t, expected", JCTVC_E137)
def test_every_method_agrees_with_the_bjontegaard_package(method, rate_a, psnr_a, rate_t, psnr_t, expected):
    result = bd(front(rate_a, psnr_a, True), front(rate_t, psnr_t, True), PSNR, method)
    assert result.bd_rate == pytest.approx(bjontegaard.bd_rate(rate_a, psnr_a, rate_t, psnr_t, method=method))
    assert result.bd_metric == pytest.approx(bjontegaard.bd_psnr(rate_a, psnr_a, rate_t, psnr_t, method=method))
    assert result.method == method


ANCHOR_BPP = np.array([0.004, 0.01, 0.03, 0.06, 0.1])
ANCHOR_PSNR = np.array([20.0, 22.5, 25.0, 26.5, 27.4])


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_rate_scaled_curve_gives_exact_bd_rate(method):
    # Same qualities at 0.8x the rate: the log-rate interpolant shifts by log10(0.8) => -20 %.
    result = bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(0.8 * ANCHOR_BPP, ANCHOR_PSNR, True), PSNR, method)
    assert result.bd_rate == pytest.approx(-20.0, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_quality_shift_gives_exact_bd_metric(method):
    result = bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(ANCHOR_BPP, ANCHOR_PSNR + 0.5, True), PSNR, method)
    assert result.bd_metric == pytest.approx(0.5, abs=1e-9)
    assert result.bd_rate < 0


def test_lower_is_better_metric_is_oriented():
    lpips_anchor = np.array([0.6, 0.45, 0.3, 0.22, 0.18])
    better = lpips_anchor - 0.03  # lower LPIPS at the same rates: the test codec is better
    result = bd(front(ANCHOR_BPP, lpips_anchor, False), front(ANCHOR_BPP, better, False), LPIPS)
    assert result.bd_rate < 0
    assert result.bd_metric == pytest.approx(-0.03, abs=1e-9)
    expected = bjontegaard.bd_rate(ANCHOR_BPP, -lpips_anchor, ANCHOR_BPP, -better, method="pchip")
    assert result.bd_rate == pytest.approx(expected)


def test_non_monotone_curve_is_reduced_to_its_pareto_front_and_says_so():
    bpp = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    psnr = np.array([21.0, 20.5, 23.0, 22.0, 24.0])  # DiffC-style wiggles
    assert list(pareto_front(bpp, psnr, True)) == [0, 2, 4]
    assert list(pareto_front(bpp, -psnr, False)) == [0, 2, 4]
    noisy = bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(bpp, psnr, True), PSNR)
    clean = bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(bpp[[0, 2, 4]], psnr[[0, 2, 4]], True), PSNR)
    assert noisy.bd_rate == pytest.approx(clean.bd_rate)
    assert "test: 2 dominated/missing point(s) dropped (Pareto front)" in noisy.note


def test_single_point_curve_is_a_clear_error():
    with pytest.raises(BDError, match="test curve has 1 usable point.*pchip needs at least 2"):
        bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front([0.02], [23.0], True), PSNR)


def test_cubic_needs_four_points():
    with pytest.raises(BDError, match="cubic needs at least 4"):
        bd(front(ANCHOR_BPP[:3], ANCHOR_PSNR[:3], True), front(ANCHOR_BPP, ANCHOR_PSNR, True), PSNR, "cubic")


def test_disjoint_curves_are_an_error_not_a_number():
    with pytest.raises(BDError, match="curves do not overlap"):
        bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(ANCHOR_BPP * 100, ANCHOR_PSNR + 20, True), PSNR)


def test_partial_overlap_gives_nan_with_a_reason():
    # Same rates, qualities entirely above the anchor's: BD-metric exists, BD-rate does not.
    result = bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(ANCHOR_BPP, ANCHOR_PSNR + 10, True), PSNR)
    assert np.isnan(result.bd_rate) and "BD-rate: no common psnr range" in result.note
    assert result.bd_metric == pytest.approx(10.0)


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown BD interpolation method"):
        bd(front(ANCHOR_BPP, ANCHOR_PSNR, True), front(ANCHOR_BPP, ANCHOR_PSNR, True), PSNR, "linear")


def _rows(codec: str, config_hash: str, bpps, psnrs, dataset: str = "kodak") -> list[dict]:
    return [{"dataset": dataset, "image": image, "codec": codec, "config_hash": config_hash, "op_label": f"q={i}",
             "bpp": bpp * scale, "psnr": psnr + offset, "lpips": np.nan,
             "metric_impl": json.dumps({"psnr": "numpy", "lpips": "lpips 0.1.4"})}
            for i, (bpp, psnr) in enumerate(zip(bpps, psnrs))
            for image, scale, offset in (("a", 0.9, 0.2), ("b", 1.1, -0.2))]


def test_bd_table_reports_problems_as_rows():
    rows = pd.DataFrame(_rows("jpeg", "a" * 64, ANCHOR_BPP, ANCHOR_PSNR)
                        + _rows("webp", "b" * 64, 0.7 * ANCHOR_BPP, ANCHOR_PSNR)
                        + _rows("single", "c" * 64, [0.02], [23.0])
                        + _rows("webp", "d" * 64, ANCHOR_BPP, ANCHOR_PSNR, dataset="clic"))
    table = bd_table(aggregate(rows), "jpeg", INFOS)
    ok = table[table.status == "ok"]
    assert list(ok.codec) == ["webp"]
    assert ok.bd_rate_pct.iloc[0] == pytest.approx(-30.0, abs=1e-6)
    assert table[table.codec == "single"].status.iloc[0].startswith("error: test curve has 1 usable point")
    assert "anchor 'jpeg' is not in dataset 'clic'" in table[table.dataset == "clic"].status.iloc[0]
    assert "no lpips values in dataset 'kodak'" in table[table.metric == "lpips"].status.iloc[0]


def test_codec_with_two_config_hashes_is_not_merged():
    rows = pd.DataFrame(_rows("jpeg", "a" * 64, ANCHOR_BPP, ANCHOR_PSNR)
                        + _rows("jpeg", "b" * 64, 0.5 * ANCHOR_BPP, ANCHOR_PSNR)
                        + _rows("webp", "c" * 64, ANCHOR_BPP, ANCHOR_PSNR))
    points = aggregate(rows)
    assert sorted(points.curve.unique()) == ["jpeg [aaaaaaaa]", "jpeg [bbbbbbbb]", "webp"]
    table = bd_table(points, "jpeg", {"psnr": PSNR})
    assert "has 2 configurations" in table.status.iloc[0]
    table = bd_table(points, "jpeg [aaaaaaaa]", {"psnr": PSNR})
    rate = dict(zip(table.codec, table.bd_rate_pct))
    assert rate["jpeg [bbbbbbbb]"] == pytest.approx(-50.0, abs=1e-6) and rate["webp"] == pytest.approx(0, abs=1e-9)


def test_a_published_curve_can_be_the_anchor():
    """`--anchor published:NAME` (or a NAME no measured curve has) BD-rates measured curves against a
    published curve of the same dataset; the direction of each metric is the one given (from the store)."""
    rows = pd.DataFrame(_rows("resample_jpeg", "a" * 64, ANCHOR_BPP, ANCHOR_PSNR))
    published = pd.DataFrame({"dataset": "kodak", "image": "", "codec": ["StableCodec"] * 5, "bpp": 2 * ANCHOR_BPP,
                              "psnr": ANCHOR_PSNR, "lpips": np.nan})
    for anchor in ("StableCodec", "published:StableCodec"):
        table = bd_table(aggregate(rows), anchor, {"psnr": PSNR}, published=published)
        ok = table[table.status == "ok"]
        assert list(ok.codec) == ["resample_jpeg"] and ok.bd_rate_pct.iloc[0] == pytest.approx(-50.0, abs=1e-6)
    no_lpips = bd_table(aggregate(rows.assign(lpips=0.3)), "StableCodec", {"lpips": LPIPS}, published=published)
    assert "the anchor 'StableCodec (published)' has no lpips values" in no_lpips.status.iloc[0]
    missing = bd_table(aggregate(rows), "published:MS-ILLM", {"psnr": PSNR}, published=published)
    assert "published for it: ['StableCodec']" in missing.status.iloc[0]
    flipped = bd_table(aggregate(rows), "StableCodec", {"psnr": MetricInfo("psnr", "PSNR", "dB", False, False)},
                       published=published)
    assert "has 1 usable point(s)" in flipped.status.iloc[0], "the stored direction decides the Pareto front"
