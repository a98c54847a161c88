"""Scale-out: Hydra's submitit launcher (its local form) runs a sweep, and several processes writing one
results store at once, as array jobs on a shared filesystem do, lose nothing and write no row twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from rdpbench.results.store import load_metric_info, load_rows

REPO = Path(__file__).resolve().parents[1]
ROW_KEY = ["dataset", "image", "codec", "config_hash", "op_label"]


def run_py(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "run.py"), *args]


def test_submitit_local_launcher_runs_a_codec_sweep(tmp_path):
    done = subprocess.run(run_py("-m", "hydra/launcher=submitit_local", "codec=jpeg,webp", "dataset=sample",
                                 "max_images=2", "codec.ops.quality=[10]", f"results_dir={tmp_path}"),
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in done.stdout + done.stderr
    rows = load_rows(tmp_path)
    assert rows.groupby("codec")["image"].nunique().to_dict() == {"jpeg": 2, "webp": 2}
    assert not rows.duplicated(ROW_KEY).any()
    logs = list((tmp_path / "_hydra" / "multirun").rglob("*_log.out"))
    assert len(logs) == 2 and all("2 image tasks done" in log.read_text() for log in logs)


def test_concurrent_processes_share_one_store(tmp_path):
    jobs = [("codec=jpeg", "codec.ops.quality=[5,30]"), ("codec=jpeg", "codec.ops.quality=[5,30]", "workers=2"),
            ("codec=webp", "codec.ops.quality=[10]"), ("codec=jpeg", "codec.ops.quality=[5,30]", "target_bpp=[0.2]"),
            ("codec=jpeg", "codec.ops.quality=[5,30]", "metrics=piq", "metrics.names=[psnr,gmsd]")]
    procs = [subprocess.Popen(run_py(*job, "dataset=sample", f"results_dir={tmp_path}"), cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for job in jobs]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-2000:] for o in outputs)
    rows = load_rows(tmp_path)
    assert not rows.duplicated(ROW_KEY).any(), "a row was written twice"
    counts = rows.groupby(["codec", "config_hash"]).size().sort_values().tolist()
    assert counts == [4, 4, 8], "4 images x (2 jpeg ops | 1 webp op | 1 target)"
    assert len(list((tmp_path / "streams").rglob("*.bin"))) == len(rows)
    fixed = rows[(rows.codec == "jpeg") & rows.target_bpp.isna()]
    assert fixed[["psnr", "ms_ssim", "gmsd"]].notna().all().all(), "runs adding different metrics lost one"
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "a temporary file was left behind"
    assert {"psnr", "ms_ssim", "gmsd"} <= set(load_metric_info(tmp_path))
    assert pd.read_csv(tmp_path / "summary.csv")["images"].max() == 4
    table = [line.split() for line in outputs[4].splitlines() if line.startswith(" sample ") or "op_label" in line]
    assert table[0][-3:] == ["bpp", "psnr", "gmsd"], "the console table shows this run's metrics"
    assert {row[1] for row in table[1:]} == {"jpeg"}, "and this run's codecs only"
