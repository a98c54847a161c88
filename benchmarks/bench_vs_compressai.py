"""The same JPEG sweep through rdpbench and through CompressAI's `bench`, paired.

Job: JPEG at quality 5, 10, ..., 95 on the 24 Kodak images, PSNR and MS-SSIM.
- rdpbench: `python run.py codec=jpeg dataset=kodak ...` into a fresh results directory
  (bitstreams, rows and summary stored; no reconstruction PNGs, which CompressAI does not
  write either), for each `--workers` count, with device=cpu (CompressAI's bench runs on
  the CPU; it also keeps torch out of the runner, so its workers are forked). rdpbench's
  JPEG adds a header and optimises Huffman tables (a little more encode work than
  CompressAI's plain Pillow save).
- CompressAI: `python -m compressai.utils.bench jpeg <kodak folder> -q 5,...,95 -j N`,
  for each `--jobs` count (it prints the means and stores nothing), with torch's default
  threads, and with OMP_NUM_THREADS=1 for each `--single-thread-jobs` count: by default
  every process's MS-SSIM runs on as many threads as there are cores, so -j 2 on 2 cores
  oversubscribes them; one thread per process is CompressAI's fastest setting there.
Each run is one process tree; wall, user and sys seconds are those of the tree (children's
rusage). Rounds alternate the order of the runs (forward, then backward) so neither tool
always runs first on a shared machine; each configuration's figure is the median of the
rounds, each tool's best configuration is the lowest median, and the ratio is
rdpbench best / CompressAI best (<= 1.0 is the target). Load averages before and after
every run are recorded: on a shared 2-core machine they say how far to trust the ratio.
Writes benchmarks/results/vs_compressai.json. Needs the Kodak cache (RDPBENCH_DATA_ROOT).

    python benchmarks/bench_vs_compressai.py [--rounds 3] [--workers 1 2] [--jobs 1 2] [--single-thread-jobs 2]
                                             [--images 24]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rdpbench.paths import datasets_dir

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "vs_compressai.json"
QUALITIES = list(range(5, 100, 5))


def commands(tmp: Path, images: int, workers: list[int], jobs: list[int],
             single_thread_jobs: list[int]) -> dict[str, tuple[list[str], dict[str, str]]]:
    source = datasets_dir() / "kodak"
    folder = tmp / "kodak"  # CompressAI reads every image under a folder: give it exactly the first N
    folder.mkdir()
    for path in sorted(source.glob("kodim*.png"))[:images]:
        (folder / path.name).symlink_to(path)
    qualities = ",".join(map(str, QUALITIES))
    out = {}
    for n in workers:
        out[f"rdpbench workers={n}"] = ([
            sys.executable, str(REPO / "run.py"), "codec=jpeg", f"codec.ops.quality=[{qualities}]", "dataset=kodak",
            f"data_root={source.parent}", f"max_images={images}", "metrics=pixel", "save_reconstructions=0",
            f"workers={n}", "device=cpu", "results_dir={results}"], {})
    bench = [sys.executable, "-m", "compressai.utils.bench", "jpeg", str(folder), "-q", qualities, "-j"]
    for n in jobs:
        out[f"compressai -j {n}"] = ([*bench, str(n)], {})
    for n in single_thread_jobs:
        out[f"compressai -j {n} OMP_NUM_THREADS=1"] = ([*bench, str(n)], {"OMP_NUM_THREADS": "1"})
    return out


def timed(command: list[str], env: dict[str, str], results: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([c.replace("{results}", str(results)) for c in command], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "RDPBENCH_OFFLINE": "1", **env})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"wall_s": round(wall, 2), "user_s": round(after.ru_utime - before.ru_utime, 2),
            "sys_s": round(after.ru_stime - before.ru_stime, 2),
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()]}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    medians = {name: {key: statistics.median(r[key] for r in rs) for key in ("wall_s", "user_s", "sys_s")}
               for name, rs in runs.items()}
    best = {}
    for tool in ("rdpbench", "compressai"):
        name = min((n for n in medians if n.startswith(tool)), key=lambda n: medians[n]["wall_s"])
        best[tool] = {"configuration": name, **medians[name]}
    return {"medians": medians, "best": best,
            "ratio_wall": round(best["rdpbench"]["wall_s"] / best["compressai"]["wall_s"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--single-thread-jobs", type=int, nargs="*", default=[2])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="rdpbench-vs-compressai-") as tmp:
        configs = commands(Path(tmp), args.images, args.workers, args.jobs, args.single_thread_jobs)
        order = list(configs)
        for round_index in range(args.rounds):
            for name in (order if round_index % 2 == 0 else order[::-1]):
                results = Path(tmp) / f"results-{round_index}-{order.index(name)}"
                run = timed(*configs[name], results)
                runs.setdefault(name, []).append(run)
                print(f"round {round_index + 1} {name:34s} wall {run['wall_s']:6.2f} s  user {run['user_s']:6.2f}  "
                      f"sys {run['sys_s']:5.2f}  load {run['load_before'][0]:.2f} -> {run['load_after'][0]:.2f}",
                      flush=True)
    report = {"job": f"JPEG q={QUALITIES[0]}..{QUALITIES[-1]} step 5 ({len(QUALITIES)} points) on {args.images} Kodak "
                     "images, PSNR + MS-SSIM; rdpbench stores streams, rows and summary",
              "cpu_count": os.cpu_count(), "rounds": args.rounds, **summarise(runs), "runs": runs}
    print(json.dumps({k: report[k] for k in ("best", "ratio_wall")}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
