"""rdpbench entry point: python run.py codec=<name|suite> dataset=<name> [metrics=...] [key=value ...]."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import rdpbench.codecs  # noqa: F401  (registers built-in codecs)
import rdpbench.metrics  # noqa: F401  (registers built-in metrics)
from rdpbench.errors import RdpbenchError
from rdpbench.results.store import write_atomic
from rdpbench.runners.run import run
from rdpbench.weights import configure_library_caches

log = logging.getLogger("rdpbench")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> int:
    configure_library_caches()
    choices = HydraConfig.get().runtime.choices
    try:
        report = run(cfg, codec_label=choices["codec"], dataset_id=choices["dataset"])
    except RdpbenchError as exc:
        log.error("%s", exc)
        sys.exit(2)
    summary_path = Path(cfg.results_dir) / "summary.csv"
    if not report.store_summary.empty:
        write_atomic(summary_path, report.store_summary.to_csv(index=False).encode())  # multirun jobs share it
    if not report.summary.empty:  # this run's dataset, codecs, images and metrics only
        shown = [c for c in ("dataset", "codec", "op_label", "images", "bpp", *report.metrics)
                 if c in report.summary.columns]
        print(report.summary[shown].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"summary of the whole store written to {summary_path}")
    print(f"{report.done} image tasks done, {report.completed} completed from stored streams (metrics or "
          f"verification added), {report.skipped} already in the store, {len(report.failures)} failed")
    for label, reason in report.unavailable_codecs.items():
        print(f"codec {label} skipped: {reason}")
    for name, reason in report.unavailable_metrics.items():
        print(f"metric {name} unavailable (column empty): {reason}")
    for message in report.failures:
        print(f"FAILED: {message}")
    if report.exit_code:
        sys.exit(report.exit_code)
    return 0


if __name__ == "__main__":
    main()
