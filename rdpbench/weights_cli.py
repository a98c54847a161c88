"""`make weights`: fetch, in one go, every weight file the chosen metrics need.

    python -m rdpbench.weights_cli fetch --metrics lpips dists clipsim fid
    python -m rdpbench.weights_cli fetch --metrics lpips clipsim --set lpips.net=vgg --set clipsim.model=ViT-L-14
    python -m rdpbench.weights_cli fetch --offline --metrics lpips   # only checks, never touches the network
    python -m rdpbench.weights_cli verify                               # hashes of files already cached
    python -m rdpbench.weights_cli where                                # the cache layout

Everything lands in rdpbench.weights.cache_dir() ($RDPBENCH_CACHE, default ~/.cache/rdpbench);
copy that directory to an offline machine and run with RDPBENCH_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from rdpbench.errors import RdpbenchError


def learned_metrics() -> dict[str, Any]:
    """Metric name -> class with a `fetch_weights(**options)` classmethod (the constructor uses the same)."""
    from rdpbench.metrics.clipsim import CLIPSim
    from rdpbench.metrics.dists import DISTS
    from rdpbench.metrics.fid import FID, KID
    from rdpbench.metrics.lpips_metric import LPIPS

    return {cls.name: cls for cls in (LPIPS, DISTS, CLIPSim, FID, KID)}


def parse_options(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """['lpips.net=vgg'] -> {'lpips': {'net': 'vgg'}}; values parsed as YAML (so 1 is an int)."""
    options: dict[str, dict[str, Any]] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        metric, dot, option = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set expects metric.option=value, got {item!r}")
        options.setdefault(metric, {})[option] = yaml.safe_load(value)
    return options


def fetch(metrics: list[str], options: dict[str, dict[str, Any]]) -> int:
    """Fetch (or, offline, check) each metric's files; report every metric, fail if any failed."""
    table = learned_metrics()
    failures = 0
    for name in metrics:
        cls = table.get(name)
        if cls is None:
            print(f"{name}: no weights needed (or not a learned metric)")
            continue
        try:
            paths = cls.fetch_weights(**options.get(name, {}))
        except RdpbenchError as exc:
            failures += 1
            print(f"{name}: FAILED: {exc}")
            continue
        for path in paths:
            print(f"{name}: ok {path}")
    return 1 if failures else 0


def verify() -> int:
    from rdpbench.metrics.weight_files import ALEXNET, INCEPTION_FID, VGG16, verify_hub_file

    bad = 0
    for spec in (ALEXNET, VGG16, INCEPTION_FID):
        status = verify_hub_file(spec)
        bad += status == "hash mismatch"
        print(f"{status:14s} {spec.path}  ({spec.description}; sha256 prefix {spec.sha256_prefix})")
    return 1 if bad else 0


def where() -> int:
    from rdpbench.metrics.clipsim import hf_cache
    from rdpbench.weights import cache_dir, torch_hub_checkpoint

    print(f"cache_dir:        {cache_dir()}   (set RDPBENCH_CACHE to move it)")
    print(f"torch.hub files:  {torch_hub_checkpoint('x').parent}   (AlexNet, VGG16, InceptionV3)")
    print(f"Hugging Face hub: {hf_cache()}   (open_clip CLIP weights)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rdpbench.weights_cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_parser = sub.add_parser("fetch", help="download the weights the given metrics need")
    fetch_parser.add_argument("--metrics", nargs="+", default=sorted(learned_metrics()))
    fetch_parser.add_argument("--set", action="append", default=[], metavar="METRIC.OPTION=VALUE",
                              help="metric option that changes which weights are needed, e.g. lpips.net=vgg")
    fetch_parser.add_argument("--offline", action="store_true", help="never use the network; only check")
    sub.add_parser("verify", help="check SHA-256 prefixes of cached torch.hub files")
    sub.add_parser("where", help="print the cache layout")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        if args.offline:
            os.environ["RDPBENCH_OFFLINE"] = "1"
        return fetch(args.metrics, parse_options(args.set))
    return verify() if args.command == "verify" else where()


if __name__ == "__main__":
    sys.exit(main())
