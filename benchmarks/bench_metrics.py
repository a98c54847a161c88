"""Metric throughput (images/s) on Kodak on this CPU, and our wrapper's overhead versus calling
the pinned library directly (target < 5%). Optionally (--memory) the peak memory of one
2K-image call of the VGG/AlexNet metrics, with and without tiling.

Backbones are randomly initialised (rdpbench.metrics.random_weights, written into a temporary
cache through the real loading path): the timings are real, the metric values are not.
Each (image, implementation) pair is timed `--repeats` times, alternating ours and direct, and
the minimum is kept - robust to the other processes sharing this machine.

    python benchmarks/bench_metrics.py [--images 3] [--repeats 2] [--threads 1] [--memory]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdpbench.metrics.base import create_metric  # noqa: E402
from rdpbench.metrics.clipsim import resolve_checkpoint  # noqa: E402
from rdpbench.metrics.fid import INCEPTION_FID, patches  # noqa: E402
from rdpbench.metrics.piq_metrics import PIQ_METRICS  # noqa: E402
from rdpbench.metrics.random_weights import HUB_BACKBONES, random_weight_cache  # noqa: E402
from rdpbench.paths import datasets_dir  # noqa: E402
from rdpbench.weights_cli import learned_metrics  # noqa: E402

KODAK = datasets_dir() / "kodak"
OUT = ROOT / "benchmarks" / "results" / "metrics.json"
Pair = tuple[np.ndarray, np.ndarray]


def kodak_pairs(n: int) -> list[Pair]:
    """Kodak images and their JPEG q=10 reconstructions (a realistic low-rate distortion)."""
    pairs = []
    for i in range(1, n + 1):
        ref = np.asarray(Image.open(KODAK / f"kodim{i:02d}.png").convert("RGB"))
        buffer = io.BytesIO()
        Image.fromarray(ref).save(buffer, format="JPEG", quality=10)
        pairs.append((ref, np.asarray(Image.open(buffer).convert("RGB"))))
    return pairs


def unit(image: np.ndarray) -> Any:
    import torch

    return torch.tensor(image).permute(2, 0, 1)[None].float() / 255


def direct_calls() -> dict[str, Callable[[np.ndarray, np.ndarray], Any]]:
    """What a user would write with each library alone (numpy -> tensor -> library call, no grad)."""
    import lpips
    import open_clip
    import piq
    import torch
    from DISTS_pytorch import DISTS
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    alex, vgg = lpips.LPIPS(net="alex", verbose=False).eval(), lpips.LPIPS(net="vgg", verbose=False).eval()
    dists = DISTS()
    clip, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=str(resolve_checkpoint("ViT-B-32", "openai")), force_quick_gelu=True)
    clip.eval()
    inception = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                            feature_extractor_weights_path=str(INCEPTION_FID.path)).eval()

    def clip_direct(ref: np.ndarray, rec: np.ndarray) -> float:
        emb = clip.encode_image(torch.stack([preprocess(Image.fromarray(ref)), preprocess(Image.fromarray(rec))]))
        return float(torch.nn.functional.cosine_similarity(emb[:1], emb[1:]))

    def fid_direct(ref: np.ndarray, rec: np.ndarray) -> None:
        for image in (ref, rec):
            batch = torch.from_numpy(patches(image)).permute(0, 3, 1, 2)
            torch.cat([inception(batch[i:i + 16])[0] for i in range(0, len(batch), 16)])

    calls: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
        "lpips": lambda r, d: float(alex(unit(r), unit(d), normalize=True)),
        "lpips_vgg": lambda r, d: float(vgg(unit(r), unit(d), normalize=True)),
        "dists": lambda r, d: float(dists(unit(r), unit(d))),
        "clipsim": clip_direct,
        "fid": fid_direct,
    }
    for name, (function, _, _) in PIQ_METRICS.items():
        calls[name] = lambda r, d, f=getattr(piq, function): float(f(unit(d), unit(r), data_range=1.0))
    return calls


def ours() -> dict[str, Any]:
    learned_metrics()  # registers the learned metrics
    metrics = {name: create_metric(name, device="cpu") for name in ["lpips", "dists", "clipsim", *PIQ_METRICS]}
    metrics["lpips_vgg"] = create_metric("lpips", net="vgg", device="cpu")
    metrics["fid"] = create_metric("fid", device="cpu")
    return metrics


def call_ours(metric: Any, ref: np.ndarray, rec: np.ndarray) -> None:
    if hasattr(metric, "update"):
        metric.update(ref, rec)  # FID/KID: per-image cost is the feature extraction
    else:
        metric(ref, rec)


def time_pair(ours_fn: Callable[[], Any], direct_fn: Callable[[], Any], repeats: int,
              min_seconds: float = 3.0) -> tuple[float, float]:
    """Best-of-N seconds of each, in alternating order (so neither always runs on a warm cache);
    cheap metrics are repeated until `min_seconds` have passed."""
    best = {"ours": float("inf"), "direct": float("inf")}
    calls = {"ours": ours_fn, "direct": direct_fn}
    start_all, runs = time.perf_counter(), 0
    while runs < repeats or time.perf_counter() - start_all < min_seconds:
        for key in (("direct", "ours") if runs % 2 == 0 else ("ours", "direct")):
            start = time.perf_counter()
            calls[key]()
            best[key] = min(best[key], time.perf_counter() - start)
        runs += 1
    return best["ours"], best["direct"]


def throughput(pairs: list[Pair], repeats: int, only: list[str] | None) -> dict[str, dict[str, Any]]:
    import torch

    mine, direct = ours(), direct_calls()
    results = {}
    torch.set_grad_enabled(False)  # the direct calls run as a user would: without autograd
    for name, metric in mine.items():
        if only and name not in only:
            continue
        for ref, rec in pairs[:1]:  # warm-up (oneDNN primitive creation, lazy inits)
            call_ours(metric, ref, rec)
            direct[name](ref, rec)
        totals = np.zeros(2)
        for ref, rec in pairs:
            totals += time_pair(lambda: call_ours(metric, ref, rec), lambda: direct[name](ref, rec), repeats)
        results[name] = {"images_per_s": len(pairs) / totals[0], "direct_images_per_s": len(pairs) / totals[1],
                         "overhead_pct": 100 * (totals[0] / totals[1] - 1), "implementation": metric.implementation}
        row = results[name]
        print(f"{name:10s} {row['images_per_s']:8.3f} img/s  direct {row['direct_images_per_s']:8.3f}"
              f"  overhead {row['overhead_pct']:+6.1f}%", flush=True)
    return results


MEMORY_PROBE = """
import re, sys, numpy as np
from PIL import Image
from rdpbench.metrics.base import create_metric
from rdpbench.weights_cli import learned_metrics
def status(key):
    return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
learned_metrics()
ref = np.asarray(Image.open(sys.argv[1]).convert("RGB").resize((2048, 1365), Image.BICUBIC))
rec = np.ascontiguousarray(ref[:, ::-1])
metric = create_metric(sys.argv[2], device="cpu", tile=None if sys.argv[3] == "none" else int(sys.argv[3]),
                       **({"net": sys.argv[4]} if len(sys.argv) > 4 else {}))
before = status("VmRSS")
metric(ref, rec)
print(before, status("VmHWM"))
"""


def memory_2k() -> dict[str, dict[str, float]]:
    """RSS before one 2048x1365 call and the process's peak RSS after it (MiB), fresh process per setting.

    The peak may still be the weight-loading peak when the call itself needs less."""
    out = {}
    for label, args in [("lpips_alex", ["lpips", "none", "alex"]), ("lpips_vgg", ["lpips", "none", "vgg"]),
                        ("lpips_vgg_tile1024", ["lpips", "1024", "vgg"]), ("dists", ["dists", "none"]),
                        ("dists_tile1024", ["dists", "1024"])]:
        proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(KODAK / "kodim01.png"), *args],
                              capture_output=True, text=True, env=os.environ, cwd=ROOT, check=True)
        before, peak = map(float, proc.stdout.split()[-2:])
        out[label] = {"rss_before_call_mib": before, "peak_rss_mib": peak}
        print(f"2K call {label:20s} RSS before {before:7.0f} MiB, peak {peak:7.0f} MiB", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="also measure 2K peak memory (slow)")
    parser.add_argument("--only", nargs="+", help="re-time these metrics; merged into an existing metrics.json")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = least noise on a shared CPU)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp, random_weight_cache(Path(tmp), hub=HUB_BACKBONES, clip=True):
        pairs = kodak_pairs(args.images)
        report: dict[str, Any] = {
            "note": "random-weight backbones (timing only); CPU; min over repeats per image, ours/direct alternating; "
                    "images are Kodak 768x512 vs JPEG q=10; fid = per-image patch feature extraction (update)",
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                        "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
            "images": len(pairs), "repeats": args.repeats, "threads": args.threads,
            "metrics": throughput(pairs, args.repeats, args.only)}
        if args.memory:
            report["memory_2k"] = memory_2k()
    if args.only and OUT.exists():
        previous = json.loads(OUT.read_text())
        previous["metrics"].update(report["metrics"])
        previous.setdefault("retimed", []).append({"metrics": args.only, "repeats": args.repeats})
        report = previous
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
