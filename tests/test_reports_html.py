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
from rdpbench.reports.visual import crop_window, nearest_points, original_for, visual_grid
from rdpbench.errors import RdpbenchError
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
    assert "anchor &#x27;vtm&#x27; is not in dataset &#x27;kodak&#x27;" in text
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
    assert titles[0] == "original" and "JPEG\n0.0400 bpp (q=5)" in titles and notes == []
    assert fig.axes[0].images[0].get_array().shape == (16, 16, 3)
    fig, notes = visual_grid(rows, root, "kodak", "img0", 0.04, None)
    assert "original" not in [ax.get_title() for ax in fig.axes] and notes == []
    with pytest.raises(RdpbenchError, match="target bpp must be positive"):
        nearest_points(rows, "kodak", "img0", 0)
    with pytest.raises(RdpbenchError, match="does not fit"):
        crop_window((64, 64, 3), (60, 0, 16))


def test_visual_grid_shows_every_op_at_the_chosen_rate():
    """Decoder-side knobs (dual's dp, sprdiff's steps) share one stream: all of them are shown."""
    import pandas as pd

    rows = pd.DataFrame([{"dataset": "kodak", "image": "img0", "codec": "sprdiff", "config_hash": "h",
                          "op_label": f"rate={r},steps={k}", "bpp": bpp, "recon_path": f"recon/{r}{k}.png"}
                         for r, bpp in ((0, 0.048), (1, 0.025)) for k in (0, 10)])
    chosen = nearest_points(rows, "kodak", "img0", 0.02)
    assert list(chosen.op_label) == ["rate=1,steps=0", "rate=1,steps=10"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tempfile.mkdtemp()}", "--dump-dom", report[0].as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    expected = 1 + len(IMAGES)
    assert f"Self-check: {expected}/{expected} images loaded" in dom


def test_originals_are_found_by_their_recorded_path_and_checked_wherever_the_data_root_is(tmp_path):
    """Rows record each original's path relative to the data root and its SHA-256: a report finds it under
    another data root, in an originals folder, or in the run's own data root, and never takes a file
    with other content; no dataset is rebuilt, so any dataset label works (`div2k-hf`)."""
    root = write_store(tmp_path / "store", dataset="div2k-hf", recon=False)
    rows = load_rows(root)
    moved = write_originals(tmp_path / "elsewhere", "div2k-hf")
    assert original_for(rows, "div2k-hf", "img0", data_root=moved) == (moved / "div2k-hf" / "img0.png", "")
    flat = write_originals(tmp_path / "flat")
    assert original_for(rows, "div2k-hf", "img1", originals_dir=flat)[0] == flat / "img1.png"
    recorded = rows.assign(data_root=str(moved))  # as the runner records its data root
    assert original_for(recorded, "div2k-hf", "img0")[0] == moved / "div2k-hf" / "img0.png"
    (moved / "div2k-hf" / "img0.png").write_bytes((flat / "img1.png").read_bytes())
    path, note = original_for(rows, "div2k-hf", "img0", data_root=moved)
    assert path is None and "different content" in note and "--data-root" in note
    assert original_for(rows, "div2k-hf", "img0")[0] is None


def test_report_finds_originals_in_the_data_root_without_an_originals_folder(tmp_path):
    root = write_store(tmp_path / "store")
    data_root = write_originals(tmp_path / "data", "kodak")
    html_path, _ = build_report(root, tmp_path / "out", ReportOptions(anchor="jpeg", published_dir=None,
                                                                       visual_bpp=0.04, data_root=data_root))
    grid = tmp_path / "out" / "figures" / "visual_kodak_img0.png"
    assert grid.exists() and "not found" not in html_path.read_text()
