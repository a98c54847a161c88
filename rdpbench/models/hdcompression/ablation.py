"""What each zero-bit part of hdcompression adds, measured on a folder of images (Kodak in the model card):

- x_hat_lic vs x_hat: PSNR of the DRV-enhanced LIC output vs the LIC output itself (x_hat decoded from
  the LIC section's bytes), at each LIC operating point;
- index prediction: accuracy of the predicted indices at the positions not transmitted, per stride,
  with the sampled index DRV and with the predictor's null DRV (it was trained with DRV dropout);
- the prior's cost of the transmitted indices (bits per index) against log2(K).

    python -m rdpbench.models.hdcompression.ablation <image folder> [--steps 3 4] [--strides 0 2 3 4] [--out f.json]

A diagnostic of the parts, not a benchmark row: the RD points come from `run.py codec=hdcompression`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def measure(codec: Any, image: np.ndarray, step: float, strides: list[int]) -> dict[str, Any]:
    import torch

    from rdpbench.codecs.learned import tensor_to_image
    from rdpbench.metrics.pixel import psnr

    a = codec.analysed(image, {"step": step, "stride": 2})  # what the encoder computes (x_hat from the bytes)
    side = a.side
    out: dict[str, Any] = {"psnr_x_hat": psnr(image, a.x_hat),
                           "psnr_x_hat_lic": psnr(image, tensor_to_image(side.x_lic, *image.shape[:2])),
                           "prior_bits_per_index": float(-np.log2(a.pmf[np.arange(len(a.indices)), a.indices]).mean())}
    target = torch.from_numpy(a.indices.astype(np.int64)).view(1, *a.grid).to(codec.device)
    with torch.no_grad():
        for stride in strides:
            known = codec.lattice(a.grid, stride, 0)[None].to(codec.device)
            for name, drv in (("drv", side.v_index), ("no_drv", None)):
                predicted = codec.net.logits(target, known, side.features, drv).argmax(1)
                out[f"accuracy_stride{stride}_{name}"] = float((predicted == target)[~known].float().mean())
    return out


def main(argv: list[str] | None = None) -> None:
    from rdpbench.codecs.hdcompression import HDCompression
    from rdpbench.codecs.trained import UltraLow
    from rdpbench.data.images import load_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--steps", type=float, nargs="+", default=[3.0, 4.0])
    parser.add_argument("--strides", type=int, nargs="+", default=[0, 2, 3, 4])
    parser.add_argument("--model", default=None, help="a model directory (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    codec = HDCompression(UltraLow(check_bytes=0), model=args.model)
    images = sorted(p for p in args.folder.iterdir() if p.suffix.lower() == ".png")
    per_image = {}
    for path in images:
        image = load_image(path)[0]
        per_image[path.name] = {str(step): measure(codec, image, step, args.strides) for step in args.steps}
        print(path.name, json.dumps(per_image[path.name]), flush=True)
    means = {step: {key: float(np.mean([per_image[n][step][key] for n in per_image]))
                    for key in next(iter(per_image.values()))[step]} for step in map(str, args.steps)}
    print(json.dumps({"images": len(per_image), "mean": means}, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"images": len(per_image), "mean": means, "per_image": per_image}, indent=1))


if __name__ == "__main__":
    main()
