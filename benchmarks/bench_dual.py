"""`dual_gaussian` on a 2048x1365 image (DIV2K/CLIC size) with tiles: wall time and peak RSS.

The image is kodim01 resized to 2048x1365 with Lanczos (no DIV2K/CLIC file is on this machine; the
size, not the content, is what tiling is about). The codec is the shipped `codec=dual_gaussian`
config composed by Hydra, with one base step and one RCC step count (`--steps`), decoded at dp=0
and dp=1. Peak RSS is the process's own (resource.getrusage), which includes torch and the
ultralow model. Writes benchmarks/results/dual.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image

from rdpbench.metrics.pixel import psnr
from rdpbench.paths import REPO_ROOT, datasets_dir

SIZE = (2048, 1365)


def dual_codec(step: float, steps: int):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=["codec=dual_gaussian", "device=cpu",
                                                       f"codec.ops={{step:[{step}],steps:[{steps}],dp:[0.0,1.0]}}"])
    return instantiate(cfg.codec, _convert_="all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=18)
    args = parser.parse_args()
    image = np.asarray(Image.open(datasets_dir() / "kodak" / "kodim01.png").convert("RGB").resize(
        SIZE, Image.Resampling.LANCZOS))
    codec = dual_codec(args.step, args.steps)
    start = time.perf_counter()
    streams = codec.encode_many(image, codec.operating_points())
    encode_s = time.perf_counter() - start
    points = []
    for op, stream in zip(codec.operating_points(), streams):
        start = time.perf_counter()
        recon = codec.decode(stream)
        points.append({"op": op, "bpp": 8 * len(stream) / (SIZE[0] * SIZE[1]), "psnr": psnr(image, recon),
                       "decode_s": time.perf_counter() - start, "sections": codec.sections(stream)})
    result = {"image": "kodim01 Lanczos-resized to 2048x1365", "tiles": len(codec.grid.boxes(SIZE[1], SIZE[0])),
              "tile_size": codec.tile_size, "tile_overlap": codec.tile_overlap, "encode_s": encode_s,
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "points": points,
              "machine": platform.platform(), "load_average": list(__import__("os").getloadavg())}
    out = Path(__file__).with_name("results") / "dual.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "points"}, indent=1))
    for p in points:
        print(f"{p['op']}: {p['bpp']:.4f} bpp, {p['psnr']:.2f} dB, decode {p['decode_s']:.1f} s")


if __name__ == "__main__":
    main()
