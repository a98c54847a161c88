"""The HTML/Markdown report and visual grids: content, self-containment, bad input, and a real
headless-Chromium render checking that every embedded image decodes."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from rdpbench.reports.html_report import ReportOptions, build_report
from rdpbench.reports.visual import crop_window, nearest_points, original_paths, visual_grid
from rdpbench.errors import DatasetError, RdpbenchError
from rdpbench.results.store import load_rows
from test_reports_fixtures import IMAGES, write_originals, write_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = write_store(tmp_path_factory.mktemp("store"))
    originals = write_originals(tmp_path_factory.mktemp("originals"))
    out = tmp_path_factory.mktemp("report")
    options = ReportOptions(anchor="jpeg", visual_bpp=0.04, originals_dir=originals, crop=(8, 8, 32),
                            published_dir=Path(__file__).resolve().parents[1] / "results" / "published")
    return build_report(root, out, options)


def test_report_is_self_contained_and_explains_itself(report):
    html_path, md_path = report
    text = html_path.read_text()
    sources = re.findall(r'<img src="([^"]{0,30})', text)
    assert len(sources) == 1 + len(IMAGES)  # one RD figure + one visual grid per image
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in text and "https://" not in text
    for phrase in ("How to read this report", "BD-rate against <code>jpeg</code>", "PCHIP", "Pareto front",
                   "PSNR (test)", "Visual comparison", "Provenance", "lpips missing on", "weights missing (test)"):
        assert phrase in text, phrase
    markdown = md_path.read_text()
    assert "![RD curves on kodak" in markdown and "figures/rd_kodak.png" in markdown
    assert (md_path.parent / "figures" / "rd_kodak.pdf").exists()
    assert (md_path.parent / "tables" / "bd_rate.tex").exists()


def test_report_lists_the_bad_inputs_without_failing(report):
    text = report[0].read_text()
    assert "test curve has 1 usable point(s) for psnr" in text  # single-point curve
    assert "no lpips values in dataset" in text  # all-missing metric


def test_report_with_missing_anchor_still_builds(tmp_path):
    root = write_store(tmp_path / "store", recon=False)
    html_path, _ = build_report(root, tmp_path / "out", ReportOptions(anchor="vtm", published_dir=None))
    text = html_path.read_text()
    assert "anchor codec &#x27;vtm&#x27; is not in dataset &#x27;kodak&#x27;" in text
    assert "RD curves on kodak" in text  # plots and tables still there


def test_report_on_empty_results(tmp_path):
    html_path, md_path = build_report(tmp_path / "empty", tmp_path / "out", ReportOptions())
    assert "No result rows found" in html_path.read_text() and "No result rows found" in md_path.read_text()


def test_visual_grid_picks_nearest_op_and_labels_panels(tmp_path):
    root = write_store(tmp_path / "store")
    rows = load_rows(root)
    chosen = nearest_points(rows, "kodak", "img0", 0.04)
    assert dict(zip(chosen.curve, chosen.op_label))["jpeg"] == "q=5"
    assert dict(zip(chosen.curve, chosen.op_label))["webp"] == "q=5"  # 0.032 is nearer 0.04 than 0.064 in log
    originals = write_originals(tmp_path / "orig")
    fig, notes = visual_grid(rows, root, "kodak", "img0", 0.04, originals / "img0.png", crop=(0, 0, 16))
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "original" and "jpeg\n0.0400 bpp (q=5)" in titles and notes == []
    assert fig.axes[0].images[0].get_array().shape == (16, 16, 3)
    fig, notes = visual_grid(rows, root, "kodak", "img0", 0.04, None)
    assert "original not available" in notes[0]
    with pytest.raises(RdpbenchError, match="target bpp must be positive"):
        nearest_points(rows, "kodak", "img0", 0)
    with pytest.raises(RdpbenchError, match="does not fit"):
        crop_window((64, 64, 3), (60, 0, 16))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tempfile.mkdtemp()}", "--dump-dom", report[0].as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    expected = 1 + len(IMAGES)
    assert f"Self-check: {expected}/{expected} images loaded" in dom


def test_originals_come_from_rdpbench_data(tmp_path):
    assert sorted(original_paths("sample")) == ["kodim04_half", "kodim13_half", "kodim15_half", "kodim23_half"]
    assert original_paths("kodak") == {}
    with pytest.raises(DatasetError, match="kodim01.png is missing and network use is off"):
        original_paths("kodak", data_root=tmp_path)  # built from conf/dataset/kodak.yaml, offline
    with pytest.raises(DatasetError, match="pass --originals DIR"):
        original_paths("nonexistent", data_root=tmp_path)
