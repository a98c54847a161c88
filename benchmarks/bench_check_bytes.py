"""What the learned codecs' CRC (`check_bytes`) costs at 0.01 bpp and what it buys.

Cost: `ultralow` rate-controlled to 0.01 bpp on the 24 Kodak images with check_bytes 0, 1, 2
(rows: mean bpp and the CRC's share of it). Benefit: the share of mutated streams that still
decode to an image, from the fuzz target on ultralow and one CompressAI model per setting.
Writes benchmarks/results/check_bytes.json. Needs the Kodak cache (RDPBENCH_DATA_ROOT).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from rdpbench.codecs.trained import UltraLow
from rdpbench.data.datasets import Kodak
from rdpbench.data.images import load_image
from rdpbench.fuzz import fuzz
from rdpbench.runners.rate_control import bisect_to_target, stream_bpp

REPO = Path(__file__).resolve().parents[1]
TARGET_BPP = 0.01
FUZZ_CODECS = ["ultralow", "compressai_mbt2018_mean"]


def main() -> None:
    root = os.environ.get("RDPBENCH_DATA_ROOT", str(REPO.parent / "shared" / "datasets"))
    images = [load_image(ref.path)[0] for ref in Kodak(root, offline=True).images()]
    cost = {}
    for check_bytes in (0, 1, 2):
        codec = UltraLow({"step": [1.0]}, check_bytes=check_bytes)
        bpp = [stream_bpp(bisect_to_target(codec, image, {}, TARGET_BPP).stream, image) for image in images]
        crc_bpp = [8 * check_bytes / (image.shape[0] * image.shape[1]) for image in images]
        cost[check_bytes] = {"mean_bpp": round(float(np.mean(bpp)), 5),
                             "crc_share_pct": round(100 * float(np.mean(np.divide(crc_bpp, bpp))), 3)}
        print(f"check_bytes={check_bytes}: {cost[check_bytes]}", flush=True)
    accepted = {}
    for check_bytes in (0, 1, 2):
        result = fuzz(FUZZ_CODECS, streams=600, check_bytes=check_bytes, log=lambda _: None)
        accepted[check_bytes] = {"image_share": result["image_share"], "streams": result["streams"],
                                 "failures": {k: v for k, v in result["totals"].items()
                                              if k not in ("image", "bitstream_error") and v}}
        print(f"check_bytes={check_bytes}: corrupted streams decoding to an image {accepted[check_bytes]}", flush=True)
    out = REPO / "benchmarks" / "results" / "check_bytes.json"
    out.write_text(json.dumps({"codec": "ultralow", "images": "kodak (24)", "target_bpp": TARGET_BPP, "cost": cost,
                               "fuzz_codecs": FUZZ_CODECS, "accepted": accepted}, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
