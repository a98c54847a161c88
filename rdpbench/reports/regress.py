"""CI regression of RD curves: recompute a small deterministic suite and compare with committed baselines.

`make regress` runs the lead's runner on the shipped `sample` images with conf/codec/regress.yaml,
then compares per-image rows with results/baselines/rd_baseline.csv. It fails (exit 1) with a
readable diff when a row is missing or new, when bpp or a metric moves beyond TOLERANCES, or when
the BD-rate of the recomputed curve against the baseline curve moves beyond BD_RATE_TOLERANCE.
`make baselines` re-records the CSV on purpose (review the diff of the CSV before committing).
The tolerances absorb library-version drift (a libwebp or libaom update changes bytes slightly);
real regressions (a broken header, a wrong colour conversion, a rate-control bug) are far larger.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rdpbench.errors import RdpbenchError
from rdpbench.metrics import metric_info
from rdpbench.reports.bdrate import BDError, bd, front
from rdpbench.reports.curves import aggregate
from rdpbench.results.store import load_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINE_FILE = "rd_baseline.csv"
KEYS = ["dataset", "image", "codec", "op_label"]
BASELINE_COLUMNS = [*KEYS, "bytes", "bpp", "psnr", "ms_ssim"]
# column -> (kind, tolerance): relative for rates, absolute in metric units for quality.
TOLERANCES = {"bpp": ("relative", 0.02), "psnr": ("absolute", 0.05), "ms_ssim": ("absolute", 0.002)}
BD_RATE_TOLERANCE = 1.0  # percentage points, per dataset x codec x metric
BD_METRICS = ("psnr", "ms_ssim")


def run_suite(results_dir: Path) -> None:
    """Run the regression suite into `results_dir` (the one place that knows the runner's command line)."""
    command = [sys.executable, "run.py", "codec=regress", "dataset=sample", f"results_dir={results_dir}",
               "save_reconstructions=0", "offline=true"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-15:])
        raise RdpbenchError(f"regression suite failed ({' '.join(command)}, exit {done.returncode}):\n{tail}")


def baseline_frame(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        raise RdpbenchError("the regression run produced no rows")
    return rows[BASELINE_COLUMNS].sort_values(KEYS, ignore_index=True)


def _row_differences(baseline: pd.DataFrame, current: pd.DataFrame, tolerances: dict) -> list[str]:
    merged = baseline.merge(current, on=KEYS, how="outer", suffixes=("_base", "_now"), indicator="presence")
    lines = []
    for _, values in merged.iterrows():
        where = f"{values['dataset']}/{values['image']} {values['codec']} {values['op_label']}"
        if values["presence"] == "left_only":
            lines.append(f"{where}: in the baseline, missing now")
            continue
        if values["presence"] == "right_only":
            lines.append(f"{where}: new row, not in the baseline (re-record with `make baselines` if intended)")
            continue
        for column, (kind, tolerance) in tolerances.items():
            old, new = values[f"{column}_base"], values[f"{column}_now"]
            if np.isnan(old) and np.isnan(new):
                continue
            change = (new - old) / old if kind == "relative" else new - old
            if not np.isfinite(change) or abs(change) > tolerance:
                shown = f"{change:+.2%}" if kind == "relative" else f"{change:+.4g}"
                limit = f"{tolerance:.0%}" if kind == "relative" else f"{tolerance:g}"
                lines.append(f"{where}: {column} {old:.6g} -> {new:.6g} ({shown}; tolerance ±{limit}; "
                             f"bytes {values['bytes_base']} -> {values['bytes_now']})")
    return lines


def _bd_differences(baseline: pd.DataFrame, current: pd.DataFrame, tolerance: float) -> list[str]:
    curves = {name: aggregate(frame.assign(config_hash=name), list(BD_METRICS))
              for name, frame in (("baseline", baseline), ("current", current))}
    lines = []
    for (dataset, codec), old in curves["baseline"].groupby(["dataset", "codec"]):
        new = curves["current"][(curves["current"]["dataset"] == dataset) & (curves["current"]["codec"] == codec)]
        for metric in BD_METRICS:
            info = metric_info(metric)  # regress runs the runner itself, so it may ask the registry
            try:
                result = bd(front(old["bpp"], old[metric], info.higher_is_better),
                            front(new["bpp"], new[metric], info.higher_is_better), info)
            except BDError as exc:
                lines.append(f"{dataset} {codec} {metric}: BD-rate vs baseline not computable: {exc}")
                continue
            if not abs(result.bd_rate) <= tolerance:
                lines.append(f"{dataset} {codec} {metric}: BD-rate vs baseline {result.bd_rate:+.2f}% "
                             f"(tolerance ±{tolerance:g}%)")
    return lines


def compare(baseline: pd.DataFrame, current: pd.DataFrame, tolerances: dict | None = None,
            bd_tolerance: float = BD_RATE_TOLERANCE) -> list[str]:
    """Human-readable differences; an empty list means the curves are within tolerance."""
    return (_row_differences(baseline, current, tolerances or TOLERANCES)
            + _bd_differences(baseline, current, bd_tolerance))


def main(baselines_dir: Path, record: bool = False, keep: Path | None = None) -> int:
    baseline_path = baselines_dir / BASELINE_FILE
    if not record and not baseline_path.exists():
        raise RdpbenchError(f"no baseline at {baseline_path}; record one with `make baselines`")
    with tempfile.TemporaryDirectory(prefix="rdpbench-regress-") as scratch:
        results_dir = keep or Path(scratch)
        run_suite(results_dir)
        current = baseline_frame(load_rows(results_dir))
    if record:
        baselines_dir.mkdir(parents=True, exist_ok=True)
        current.to_csv(baseline_path, index=False)
        print(f"recorded {len(current)} rows in {baseline_path}")
        return 0
    differences = compare(pd.read_csv(baseline_path), current)
    if differences:
        print(f"RD regression: {len(differences)} difference(s) against {baseline_path}:")
        print("\n".join(f"  {line}" for line in differences))
        return 1
    print(f"RD regression: {len(current)} rows within tolerance of {baseline_path} "
          f"(bpp ±{TOLERANCES['bpp'][1]:.0%}, psnr ±{TOLERANCES['psnr'][1]} dB, "
          f"ms_ssim ±{TOLERANCES['ms_ssim'][1]}, BD-rate ±{BD_RATE_TOLERANCE}%)")
    return 0
