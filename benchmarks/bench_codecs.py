"""Learned and command-line codecs on Kodak: speed per image, colour-conversion cost, the shipped model's RD points.

1. Encode/decode seconds per Kodak image for every adapter that can run here. CompressAI
   zoo models run with random weights at their real size (no zoo weights offline): the
   times are real network times, the rates are not. MS-ILLM runs only if installed with weights.
2. PSNR of the RGB -> YCbCr (full-range BT.601, 8 bit) -> RGB round trip alone, 4:4:4 and
   4:2:0, and of x265 4:4:4 at QP 0: the ceiling the video codecs cannot pass.
3. `ultralow` (shipped weights) RD points over all Kodak images: mean bpp, PSNR, MS-SSIM
   (rdpbench.metrics.pixel), next to AVIF, resampled JPEG and resampled AVIF at matched bpp:
   per image, the largest-rate setting with bpp <= the ultralow stream's bpp
   (rate_control.bisect_to_target; for the resampled ones the best PSNR over their scales).
Prints a table and writes benchmarks/results/codecs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.codecs.base import Codec, OperatingPoint
from rdpbench.codecs.compressai_zoo import ZOO_CLASSES, zoo_location
from rdpbench.codecs.external import AomAV1, SvtAV1, VVenC, X265, rgb_to_yuv, yuv_to_rgb
from rdpbench.codecs.msillm import MSILLM
from rdpbench.codecs.pillow_codecs import AVIF, JPEG
from rdpbench.codecs.resample import Resample
from rdpbench.codecs.trained import UltraLow
from rdpbench.data.images import load_image
from rdpbench.errors import RdpbenchError
from rdpbench.metrics.pixel import ms_ssim, psnr
from rdpbench.paths import datasets_dir
from rdpbench.runners.rate_control import bisect_to_target, stream_bpp

REPO = Path(__file__).resolve().parents[1]
RESAMPLE_SCALES = (2.0, 3.0, 4.0, 6.0, 8.0)
RESAMPLE_SCALES_AVIF = (1.5, 2.0, 3.0)  # plain AVIF at quality 0 stays above ~0.07 bpp on Kodak
PARTS = ("timing", "conversion", "rd")
NOTES = ("timing: mean seconds per Kodak image (768x512) on a shared 2-core CPU; learned codecs run "
         "single-threaded by design. RD: means over Kodak images; baselines bisected per image to bpp <= the "
         "ultralow stream's bpp (reached_target counts images where even the lowest setting was above it).")


def kodak(images: int) -> list[tuple[str, np.ndarray]]:
    root = datasets_dir() / "kodak"
    return [(p.stem, load_image(p)[0]) for p in sorted(root.glob("kodim*.png"))[:images]]


def timed(codec: Codec, image: np.ndarray, op: OperatingPoint) -> tuple[bytes, np.ndarray, float, float]:
    start = time.perf_counter()
    stream = codec.encode(image, op)
    middle = time.perf_counter()
    decoded = codec.decode(stream)
    return stream, decoded, middle - start, time.perf_counter() - middle


def label(codec: Codec) -> str:
    chroma = getattr(codec, "chroma", None)
    return f"{codec.name}-{chroma}" if chroma else codec.name


def speed(codec: Codec, op: OperatingPoint, images: list[tuple[str, np.ndarray]], note: str = "") -> dict[str, Any]:
    try:
        codec.requirements()
    except RdpbenchError as exc:
        print(f"{label(codec)} skipped: {exc}", flush=True)
        return {"codec": label(codec), "op": op, "skipped": str(exc)}
    codec.encode(images[0][1][:64, :64], op)  # load weights / warm caches outside the timing
    enc, dec, bpp = [], [], []
    for _, image in images:
        stream, _, e, d = timed(codec, image, op)
        enc.append(e), dec.append(d), bpp.append(stream_bpp(stream, image))
    row = {"codec": label(codec), "op": op, "images": len(images), "note": note, "encode_s": float(np.mean(enc)),
           "decode_s": float(np.mean(dec)), "bpp": float(np.mean(bpp))}
    print(json.dumps(row), flush=True)
    return {**row, "config": codec.config()}


def zoo_with_random_weights(cache: Path) -> list[Codec]:
    """Zoo adapters loading random weights of the quality-1 size from a scratch cache (same loader as real weights)."""
    import torch
    from compressai.zoo.image import cfgs, model_architectures

    os.environ["RDPBENCH_CACHE"] = str(cache)
    os.environ.pop("TORCH_HOME", None)
    codecs = []
    for cls in ZOO_CLASSES:
        _, path = zoo_location(cls.architecture, "mse", 1)
        if not path.exists():
            torch.manual_seed(0)
            net = model_architectures[cls.architecture](*cfgs[cls.architecture][1])
            net.update(force=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(net.state_dict(), path)
        codecs.append(cls({"quality": [1]}))
    return codecs


def conversion_cost(images: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    out: dict[str, list[float]] = {"yuv444_roundtrip_psnr": [], "yuv420_roundtrip_psnr": [], "x265_444_qp0_psnr": []}
    x265 = X265(chroma="444")
    for _, image in images:
        h, w = image.shape[:2]
        with tempfile.TemporaryDirectory() as tmp:
            for chroma in ("444", "420"):
                path = Path(tmp) / f"{chroma}.yuv"
                rgb_to_yuv(image, path, chroma, "bench")
                out[f"yuv{chroma}_roundtrip_psnr"].append(psnr(image, yuv_to_rgb(path, w, h, chroma, "bench")))
        out["x265_444_qp0_psnr"].append(psnr(image, x265.decode(x265.encode(image, {"qp": 0}))))
    return {k: float(np.mean(v)) for k, v in out.items()}


def scores(image: np.ndarray, stream: bytes, decoded: np.ndarray) -> dict[str, float]:
    return {"bpp": stream_bpp(stream, image), "psnr": psnr(image, decoded), "ms_ssim": ms_ssim(image, decoded)}


def matched(codec: Codec, base_ops: list[OperatingPoint], image: np.ndarray, target: float) -> dict[str, Any]:
    """Best PSNR over base_ops, each bisected to the largest rate with bpp <= target."""
    best: dict[str, Any] | None = None
    for base in base_ops:
        result = bisect_to_target(codec, image, base, target)
        row = {**scores(image, result.stream, codec.decode(result.stream)), "reached": result.reached, "op": result.op}
        if best is None or (row["reached"], row["psnr"]) > (best["reached"], best["psnr"]):
            best = row
    assert best is not None
    return best


def rd_points(images: list[tuple[str, np.ndarray]], steps: list[float]) -> list[dict[str, Any]]:
    ultralow = UltraLow()
    baselines: dict[str, tuple[Codec, list[OperatingPoint]]] = {
        "avif": (AVIF(), [{}]), "resample_jpeg": (Resample(JPEG()), [{"scale": s} for s in RESAMPLE_SCALES]),
        "resample_avif": (Resample(AVIF()), [{"scale": s} for s in RESAMPLE_SCALES_AVIF])}
    points = []
    for step in steps:
        rows: dict[str, list[dict[str, Any]]] = {"ultralow": [], **{k: [] for k in baselines}}
        for _, image in images:
            stream = ultralow.encode(image, {"step": step})
            own = scores(image, stream, ultralow.decode(stream))
            rows["ultralow"].append(own)
            for label, (codec, base_ops) in baselines.items():
                rows[label].append(matched(codec, base_ops, image, own["bpp"]))
        point = {"step": step}
        for label, values in rows.items():
            point[label] = {k: float(np.mean([v[k] for v in values])) for k in ("bpp", "psnr", "ms_ssim")}
            if label != "ultralow":
                point[label]["reached_target"] = int(sum(v["reached"] for v in values))
        points.append(point)
        print(json.dumps(point), flush=True)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing-images", type=int, default=3)
    parser.add_argument("--rd-images", type=int, default=24)
    parser.add_argument("--steps", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0, 4.0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="run some parts; the others are kept from an existing --out file")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "codecs.json")
    args = parser.parse_args()
    import torch

    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update({"machine": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                   "cpu_count": os.cpu_count(), "notes": NOTES})
    if "timing" in args.parts:
        result["timing"] = timing(kodak(args.timing_images))
    if "conversion" in args.parts:
        result["conversion_cost"] = conversion_cost(kodak(args.rd_images))
        print(json.dumps(result["conversion_cost"]), flush=True)
    if "rd" in args.parts:
        result["ultralow_rd"] = rd_points(kodak(args.rd_images), args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {args.out}")


def timing(timing_images: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    plan: list[tuple[Codec, OperatingPoint, str]] = [
        (UltraLow(), {"step": 1.0}, "shipped weights"),
        (X265(chroma="444"), {"qp": 45}, ""), (X265(chroma="420"), {"qp": 45}, ""),
        (AomAV1(chroma="444"), {"cq_level": 55}, "--cpu-used=4"), (AomAV1(chroma="420"), {"cq_level": 55}, "--cpu-used=4"),
        (SvtAV1(), {"crf": 55}, "--preset 4"), (VVenC(), {"qp": 45}, ""),
        (MSILLM(), {"quality": 1}, "released weights"),
    ]
    rows = [speed(codec, op, timing_images, note) for codec, op, note in plan]
    saved = {k: os.environ.get(k) for k in ("RDPBENCH_CACHE", "TORCH_HOME")}
    with tempfile.TemporaryDirectory(prefix="rdpbench-bench-zoo-") as cache:  # zoo last: it switches the cache
        rows += [speed(codec, {"quality": 1}, timing_images, "random weights, quality-1 size: time only")
                 for codec in zoo_with_random_weights(Path(cache))]
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return rows


if __name__ == "__main__":
    main()
