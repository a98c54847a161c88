"""Harness overhead and parallel speedup on Kodak with classical codecs.

Overhead: the harness (run() with workers=1: stream/row files, provenance, sections)
versus a bare loop that loads each image and calls the same encode, decode and metric
functions. Speedup: workers=2 versus workers=1 over the same tasks. Wall seconds, plus the
CPU seconds (user + sys, worker processes included) and the load average around each
part: on a shared machine the wall figures only mean something when the load is < 1 per core.
Rounds alternate the order of the parts (forward, then backward), each in a fresh results
directory, and every figure is the median over the rounds: one run of each varied by ~10 %
between repeats on this machine, as much as the overhead being measured.
Every part runs with one BLAS/OpenMP/torch thread per process (`threads=1`; the bare loop under the
same limits): with the default (cpu_count // workers) one worker already keeps ~1.7 of 2 cores busy
through the codecs' and MS-SSIM's threads, and the speedup would measure thread scaling instead.
Writes benchmarks/results/harness.json. Needs the Kodak cache (RDPBENCH_DATA_ROOT).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from hydra import compose, initialize_config_dir

import rdpbench.codecs  # noqa: F401
from rdpbench.data.images import load_image
from rdpbench.metrics import create_metric
from rdpbench.paths import datasets_dir
from rdpbench.runners.run import run
from rdpbench.runners.tasks import build_codec

REPO = Path(__file__).resolve().parents[1]
CODEC_OVERRIDES = ["codec.jpeg.ops.quality=[5,30]", "codec.webp.ops.quality=[0,20]", "codec.avif.ops.quality=[5,30]",
                   "codec.jpeg2000.ops.psnr_target=[22,28]", "codec.resample_jpeg.ops.quality=[20]"]


def compose_cfg(results_dir: str, workers: int, images: int, threads: int = 1):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=[
            "codec=regress", "dataset=kodak", f"data_root={datasets_dir()}",
            f"results_dir={results_dir}", f"workers={workers}", f"threads={threads}", f"max_images={images}", "save_reconstructions=0",
            "device=cpu",
            *CODEC_OVERRIDES])


def direct_loop(cfg, images) -> float:
    """The same work with no harness: load, encode, decode, score with the configured metrics
    (each bound to the image once, as the harness does), under the workers' thread limits."""
    import sys

    from omegaconf import OmegaConf
    from threadpoolctl import threadpool_limits

    # torch is not imported here: loaded in this process, it would make the harness's workers
    # forkserver children (slower to start, and invisible to RUSAGE_CHILDREN) as they are not in run.py
    threadpool_limits(limits=int(cfg.threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(cfg.threads))

    codecs = {label: build_codec(c) for label, c in OmegaConf.to_container(cfg.codec, resolve=True).items()}
    options = OmegaConf.to_container(cfg.metrics.options, resolve=True)
    metrics = [create_metric(name, **options.get(name, {})) for name in cfg.metrics.names]
    start = time.perf_counter()
    for ref in images:
        image, _ = load_image(ref.path)
        scorers = [metric.bind(image) for metric in metrics]
        for codec in codecs.values():
            for op in codec.operating_points():
                decoded = codec.decode(codec.encode(image, op))
                for score in scorers:
                    score(decoded)
    return time.perf_counter() - start


def timed_run(cfg) -> float:
    start = time.perf_counter()
    report = run(cfg, "regress")
    assert report.exit_code == 0, report.failures
    return time.perf_counter() - start


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(part: Callable[[], float]) -> dict[str, float]:
    load, cpu = os.getloadavg()[0], cpu_seconds()
    wall = part()
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu_seconds() - cpu, 2), "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"direct": [], "harness_workers1": [], "harness_workers2": []}
    with tempfile.TemporaryDirectory() as tmp:
        from hydra.utils import instantiate

        images = instantiate(compose_cfg(tmp, 1, args.images).dataset).images()[: args.images]
        for index in range(args.rounds):
            parts = {"direct": lambda: direct_loop(compose_cfg(tmp, 1, args.images), images),
                     "harness_workers1": lambda: timed_run(compose_cfg(f"{tmp}/w1-{index}", 1, args.images)),
                     "harness_workers2": lambda: timed_run(compose_cfg(f"{tmp}/w2-{index}", 2, args.images))}
            for name in (parts if index % 2 == 0 else reversed(parts)):
                runs[name].append(measured(parts[name]))
                print(f"round {index + 1} {name}: {runs[name][-1]}", flush=True)
    direct, harness, parallel = (medians(runs[name]) for name in runs)
    result = {"images": args.images, "codecs": "regress suite (jpeg, webp, avif, jpeg2000 x2 ops, resample_jpeg x1)",
              "rounds": args.rounds, "direct_loop_s": direct["wall_s"], "harness_workers1_s": harness["wall_s"],
              "harness_overhead_pct": round(100 * (harness["wall_s"] / direct["wall_s"] - 1), 2),
              "harness_overhead_cpu_pct": round(100 * (harness["cpu_s"] / direct["cpu_s"] - 1), 2),
              "harness_workers2_s": parallel["wall_s"],
              "parallel_speedup": round(harness["wall_s"] / parallel["wall_s"], 3),
              "cpu_count": os.cpu_count(), "medians": {"direct": direct, "harness_workers1": harness,
                                                       "harness_workers2": parallel}, "runs": runs}
    print(json.dumps(result, indent=1))
    out = REPO / "benchmarks" / "results" / "harness.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
