"""Record the DiffC golden streams (tests/golden/diffc_gaussian.json); run it only to re-record on purpose.

The file was first recorded from main before the generative-codec kit refactor (commit ab49d3f), so the
golden test proves the kit's DiffC writes byte-identical streams to the pre-kit adapter.
Usage: python tests/golden/record_diffc.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "rdpbench" / "data" / "sample"
SMALL = dict(seed=3, num_steps=8, t_max=640, t_min=300, chunk_kl_bits=6.0, slack_bits=2.0, max_bits=9,
             decode_steps=20, tile_size=64, tile_overlap=8)
#: (name, sample file, crop rows, crop cols, config overrides, step counts)
CASES = [
    ("one_tile", "kodim23_half.png", (100, 132), (150, 198), {}, [2, 5, 8]),
    ("four_tiles", "kodim04_half.png", (40, 140), (60, 130), {}, [3, 8]),
    ("ancestral_seed7", "kodim15_half.png", (10, 50), (20, 76), {"decoder": "ancestral", "seed": 7}, [4, 8]),
]


def crop(name: str, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    image = np.asarray(Image.open(SAMPLE / name).convert("RGB"))
    return np.ascontiguousarray(image[rows[0]:rows[1], cols[0]:cols[1]])


def main() -> None:
    from rdpbench.codecs.diffc import DiffC
    from rdpbench.diffusion.gaussian import GaussianDenoiser

    out = []
    for name, file, rows, cols, overrides, steps in CASES:
        codec = DiffC(GaussianDenoiser(), **{**SMALL, **overrides})
        image = crop(file, rows, cols)
        streams = codec.encode_many(image, [{"steps": k} for k in steps])
        out.append({"name": name, "file": file, "rows": rows, "cols": cols, "config": {**SMALL, **overrides},
                    "streams": {str(k): s.hex() for k, s in zip(steps, streams)},
                    "decoded_sha256": {str(k): hashlib.sha256(codec.decode(s).tobytes()).hexdigest()
                                       for k, s in zip(steps, streams)}})
    (HERE / "diffc_gaussian.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
