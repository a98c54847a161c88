"""Knob sweeps: op labels parsed into knobs, one line per held combination, clear refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from rdpbench.errors import RdpbenchError
from rdpbench.metrics.base import MetricInfo
from rdpbench.reports.knobs import knob_figure, knob_table, op_values

PSNR = MetricInfo("psnr", "PSNR", "dB", True, False)


def points() -> pd.DataFrame:
    rows = [{"dataset": "kodak", "curve": "dual_gaussian", "op_label": f"step={s},steps=20,dp={dp}",
             "n_images": 24, "bpp": 0.01 * s, "psnr": 25 - s - 2 * dp}
            for s in (2.0, 4.0) for dp in (1.0, 0.0, 0.5)]
    return pd.DataFrame(rows)


def test_op_labels_become_knob_columns():
    assert op_values("step=2.0,steps=18,dp=0.5") == {"step": 2.0, "steps": 18.0, "dp": 0.5}
    table = knob_table(points(), "dual_gaussian", "dp")
    assert sorted(table["dp"].unique()) == [0.0, 0.5, 1.0] and sorted(table["step"].unique()) == [2.0, 4.0]


def test_one_line_per_held_combination_sorted_along_the_knob():
    fig = knob_figure(points(), {"psnr": PSNR}, "dual_gaussian", "dp", ["psnr"])
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2  # step 2 and step 4 (steps is the same everywhere)
    for line in lines:
        assert list(line.get_xdata()) == [0.0, 0.5, 1.0]
        assert list(line.get_ydata()) == sorted(line.get_ydata(), reverse=True)
    assert "bpp" in lines[0].get_label()


def test_unknown_curve_knob_or_mixed_datasets_are_refused():
    with pytest.raises(RdpbenchError, match="no knob 'quality'"):
        knob_table(points(), "dual_gaussian", "quality")
    with pytest.raises(RdpbenchError, match="no curve"):
        knob_table(points(), "jpeg", "dp")
    mixed = pd.concat([points(), points().assign(dataset="div2k")])
    with pytest.raises(RdpbenchError, match="several datasets"):
        knob_table(mixed, "dual_gaussian", "dp")
