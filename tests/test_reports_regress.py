"""RD regression comparison on synthetic frames (the runner itself is exercised by `make regress`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rdpbench.reports.regress import BASELINE_COLUMNS, BASELINE_FILE, compare

REPO = Path(__file__).resolve().parents[1]


def _baseline() -> pd.DataFrame:
    rows = [{"dataset": "sample", "image": image, "codec": codec, "op_label": f"q={q}", "bytes": int(1000 * bpp),
             "bpp": bpp * (1 + 0.1 * i), "psnr": psnr, "ms_ssim": 0.5 + psnr / 100}
            for i, image in enumerate(("a", "b"))
            for codec, scale in (("jpeg", 1.0), ("webp", 0.8))
            for q, bpp, psnr in ((5, 0.05 * scale, 22.0), (20, 0.1 * scale, 25.0), (50, 0.2 * scale, 28.0))]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def test_identical_runs_pass():
    assert compare(_baseline(), _baseline()) == []


def test_moved_bpp_and_metric_are_reported_readably():
    current = _baseline()
    current.loc[0, "bpp"] *= 1.05
    current.loc[1, "psnr"] += 0.3
    lines = compare(_baseline(), current, bd_tolerance=100)
    assert len(lines) == 2
    bpp_line = next(line for line in lines if line.startswith("sample/a jpeg q=5: bpp"))
    assert "(+5.00%; tolerance ±2%" in bpp_line
    assert any(line.startswith("sample/a jpeg q=20: psnr 25 -> 25.3 (+0.3; tolerance ±0.05") for line in lines)


def test_missing_and_new_rows_are_reported():
    current = _baseline().iloc[1:]
    current = pd.concat([current, current.iloc[[0]].assign(op_label="q=90")])
    lines = compare(_baseline(), current, bd_tolerance=100)
    assert "sample/a jpeg q=5: in the baseline, missing now" in lines
    assert any(line.startswith("sample/a jpeg q=90: new row") for line in lines)


def test_bd_rate_drift_within_row_tolerance_is_caught():
    current = _baseline()
    current.loc[current.codec == "webp", "bpp"] *= 1.015  # every row within the 2 % row tolerance
    lines = compare(_baseline(), current)
    assert lines == [f"sample webp {m}: BD-rate vs baseline +1.50% (tolerance ±1%)" for m in ("psnr", "ms_ssim")]


def test_committed_baseline_has_the_documented_columns():
    baseline = pd.read_csv(REPO / "results" / "baselines" / BASELINE_FILE)
    assert list(baseline.columns) == BASELINE_COLUMNS
    assert {"jpeg", "webp", "avif", "jpeg2000"} <= set(baseline.codec)
    assert baseline.groupby(["codec", "image"]).size().min() >= 2 and baseline["bpp"].gt(0).all()


@pytest.mark.slow
def test_recomputed_suite_matches_the_committed_baseline(tmp_path):
    """What `make regress` checks: the runner on the sample images reproduces the baseline (~20 s)."""
    from rdpbench.reports.regress import baseline_frame, run_suite
    from rdpbench.results.store import load_rows

    run_suite(tmp_path)
    current = baseline_frame(load_rows(tmp_path))
    assert compare(pd.read_csv(REPO / "results" / "baselines" / BASELINE_FILE), current) == []
    moved = current.assign(psnr=current["psnr"] + 0.1)
    assert len(compare(current, moved, bd_tolerance=100)) == len(current)
