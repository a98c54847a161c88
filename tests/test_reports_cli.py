"""The reports command line: outputs, terminal table, exit codes and messages on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from rdpbench.reports.cli import main
from test_reports_fixtures import write_originals, write_store

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "results" / "published"


def test_bd_rate_command_writes_and_prints(tmp_path, capsys):
    root = write_store(tmp_path / "store")
    assert main(["bd-rate", "--results", str(root), "--anchor", "jpeg", "--metrics", "psnr", "lpips",
                 "--method", "akima"]) == 0
    printed = capsys.readouterr().out
    assert "Akima" in printed and "| webp" in printed and "-20.00%" in printed
    assert "no lpips values in dataset 'kodak'" in printed
    table = pd.read_csv(root / "reports" / "tables" / "bd_rate.csv")
    assert set(table.method) == {"akima"} and set(table.anchor) == {"jpeg"}
    assert {"bd_rate_pct", "bd_metric", "status", "note"} <= set(table.columns)
    assert (root / "reports" / "tables" / "bd_rate.tex").exists()


def test_bd_rate_with_unknown_anchor_exits_2_with_a_message(tmp_path, capsys):
    root = write_store(tmp_path / "store", recon=False)
    assert main(["bd-rate", "--results", str(root), "--anchor", "nonexistent", "--published", str(PUBLISHED)]) == 2
    err = capsys.readouterr().err
    assert "anchor 'nonexistent' is in no dataset" in err and "'jpeg'" in err and "published:NAME" in err


def test_bd_rate_against_a_published_anchor(tmp_path, capsys):
    """`make bd-rate ANCHOR=published:NAME`: measured curves against a published curve of the dataset."""
    root = write_store(tmp_path / "store", recon=False)
    assert main(["bd-rate", "--results", str(root), "--anchor", "published:No-GAN", "--metrics", "psnr",
                 "--published", str(PUBLISHED)]) == 0
    table = pd.read_csv(root / "reports" / "tables" / "bd_rate.csv")
    assert set(table.anchor) == {"published:No-GAN"} and "jpeg" in set(table[table.status == "ok"].codec)
    assert "No-GAN" in capsys.readouterr().out


def test_empty_results_exit_2_with_a_message(tmp_path, capsys):
    assert main(["bd-rate", "--results", str(tmp_path / "none")]) == 2
    assert "no result rows under" in capsys.readouterr().err


def test_plots_and_visual_commands(tmp_path, capsys):
    root = write_store(tmp_path / "store")
    assert main(["plots", "--results", str(root), "--published", str(REPO / "results" / "published")]) == 0
    assert (root / "reports" / "figures" / "rd_kodak.pdf").exists()
    originals = write_originals(tmp_path / "orig")
    assert main(["visual", "--results", str(root), "--dataset", "kodak", "--images", "img1", "--bpp", "0.1",
                 "--originals", str(originals), "--crop", "0", "0", "32"]) == 0
    assert (root / "reports" / "figures" / "visual_kodak_img1.png").exists()
    printed = capsys.readouterr().out
    assert "published point(s) outside it not drawn" in printed and "written:" in printed


def test_module_entry_point_runs_report(tmp_path):
    root = write_store(tmp_path / "store", recon=False)
    done = subprocess.run([sys.executable, "-m", "rdpbench.reports.cli", "report", "--results", str(root),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.html").exists() and "written:" in done.stdout
