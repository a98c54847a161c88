"""Fuzz target: decode mutated bitstreams of every codec that runs here and count what happens.

    python -m rdpbench.fuzz --streams 10000 [--check-bytes 0] [--timeout 30] [--workers 2]   (make fuzz)

Seed streams: each codec (built from its conf/codec/<label>.yaml through the public Codec
interface) encodes small crops of the shipped sample images at two operating points. Each
mutated stream (bit flips, byte edits, truncation, appended or inserted bytes, an edited
header size or operating point, header splices between seeds, random bytes) is decoded
twice, in whichever reused worker process is free, the second time long after the first:
the two must give the same image or the same error. Outcome classes per codec:
  image            decoded to an image of the header's size (the corruption went unnoticed)
  bitstream_error  a BitstreamError that names the codec
  unnamed_error    a BitstreamError whose message does not name the codec
  other_exception  any other exception (a bug: the contract says BitstreamError)
  crash            the worker process died (segfault, abort, OOM kill)
  hang             the decode ran past --timeout (its worker is stopped and replaced)
  nondeterministic the two decodes of the same bytes disagreed
The CompressAI zoo and MS-ILLM run on random networks (narrower than the released ones) for
every quality, in a temporary cache (rdpbench.codecs.random_weights): the loading, coding and
checking path is the real one; the shipped `ultralow` runs on its real weights. `--check-bytes` sets the learned codecs' CRC (default: their own default).
Results: printed, and written to benchmarks/results/fuzz[_check<N>].json.
Exit status 1 when anything but image / bitstream_error happened.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from unittest import mock

import numpy as np

from rdpbench.bitstream import write_varint
from rdpbench.errors import BitstreamError

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# label -> extra Hydra overrides (conf/codec/<label>.yaml). Every codec of the repository that needs
# no GPU: the classical ones, the command-line ones (skipped with their reason when not installed),
# the learned ones (sprdiff's shipped model with 2 diffusion steps, hdcompression's shipped model),
# and DiffC and dual with their Gaussian denoisers on a short schedule.
CODECS: dict[str, tuple[str, ...]] = {
    "jpeg": (), "jpeg444": (), "webp": (), "avif": (), "jpegxl": (), "jpeg2000": (), "heif": (),
    "resample_jpeg": (), "resample_webp": (), "resample_avif": (), "resample_jpegxl": (),
    "x265": (), "x265_444": (), "aom": (), "aom_420": (), "svtav1": (), "vvenc": (),
    "ultralow": (), "compressai_bmshj2018_factorized": (), "compressai_bmshj2018_hyperprior": (),
    "compressai_mbt2018_mean": (), "compressai_mbt2018": (), "compressai_cheng2020_anchor": (),
    "compressai_cheng2020_attn": (), "msillm": ("+codec.architecture={latent_features:32,hyper_features:32,"
                                                "num_residual_blocks:1}",),
    "diffc_gaussian": ("codec.num_steps=6", "codec.t_max=640", "codec.t_min=330", "codec.tile_size=64",
                       "codec.tile_overlap=8", "codec.decode_steps=6", "codec.ops={steps:[3,6]}"),
    "sprdiff": ("codec.ops={rate:[0,2],steps:[0,2]}",),
    "hdcompression": ("codec.ops={step:[4.0],stride:[2,4]}",),
    "dual_gaussian": ("codec.num_steps=6", "codec.t_max=640", "codec.t_min=330", "codec.tile_size=64",
                      "codec.tile_overlap=8", "codec.decode_steps=6", "codec.ops={step:[4.0],steps:[3,6],dp:[0.0,1.0]}"),
}
LEARNED = ("ultralow", "compressai_", "msillm", "sprdiff", "hdcompression")
MUTATIONS = ("bit_flip", "byte_set", "truncate", "append", "insert", "delete", "header_size", "header_op",
             "header_byte", "splice", "random_payload", "random_stream")
OUTCOMES = ("image", "bitstream_error", "unnamed_error", "other_exception", "crash", "hang", "nondeterministic")
FAILING = ("unnamed_error", "other_exception", "crash", "hang", "nondeterministic")
# random zoo networks: (N, M) a quarter of the zoo's widths, so every quality of all six fits in seconds
ZOO_SIZES = {"default": (32, 48), "cheng2020-anchor": (32,), "cheng2020-attn": (32,)}
# (width, height) of the seed images: small, so 10,000 decodes fit in minutes; x265 needs one 64x64 CTU
CROPS = ((64, 64), (96, 80))


def codec_config(label: str, extra: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved `codec` node of `python run.py codec=<label> <extra>` (CPU)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"codec={label}", "device=cpu", *CODECS[label], *extra])
    return OmegaConf.to_container(cfg.codec, resolve=True)


# --- worker side ----------------------------------------------------------------------
_CODECS: dict[str, Any] = {}
NOISE = (re.compile(r"0x[0-9a-fA-F]+"), re.compile(r"\S*rdpbench-[^\s/]+\S*"))  # addresses, temp paths


def _codec(label: str, config: dict[str, Any]) -> Any:
    if label not in _CODECS:
        from rdpbench.runners.tasks import build_codec

        _CODECS[label] = build_codec(config)
    return _CODECS[label]


def encode_seeds(label: str, config: dict[str, Any]) -> tuple[str, list[bytes], str]:
    """(label, seed streams, '' or why the codec cannot run here)."""
    from rdpbench.data.datasets import Sample
    from rdpbench.data.images import load_image
    from rdpbench.errors import CodecError

    try:
        codec = _codec(label, config)
        codec.requirements()
        ops = codec.operating_points()
        ops = [ops[0], ops[len(ops) // 2]] if len(ops) > 1 else ops
        streams = []
        for ref, (width, height) in zip(Sample().images(), CROPS):
            image = np.ascontiguousarray(load_image(ref.path)[0][:height, :width])
            streams += codec.encode_many(image, ops)
        return label, streams, ""
    except (CodecError, ImportError) as exc:
        return label, [], f"{type(exc).__name__}: {exc}"


def warm_up(configs: dict[str, dict[str, Any]], streams: dict[str, bytes]) -> None:
    """Worker initializer: build every codec and decode one seed each (imports, networks), so that the
    per-decode timeout measures decoding, not a fresh worker's start."""
    for label, stream in streams.items():
        decode_outcome(label, configs[label], stream)


def decode_outcome(label: str, config: dict[str, Any], stream: bytes) -> tuple[str, str, float, str]:
    """(outcome class, digest of the image or of the error, seconds, message) of one decode."""
    codec = _codec(label, config)
    start = time.perf_counter()
    try:
        image = codec.decode(stream)
        digest = hashlib.sha256(repr(image.shape).encode() + image.tobytes()).hexdigest()
        return "image", digest, time.perf_counter() - start, ""
    except BitstreamError as exc:
        message = str(exc)
        outcome = "bitstream_error" if f"codec {codec.name!r}" in message else "unnamed_error"
    except Exception as exc:  # noqa: BLE001 - counting every other exception is the point
        message, outcome = f"{type(exc).__name__}: {exc}", "other_exception"
    seconds = time.perf_counter() - start
    stable = message
    for pattern in NOISE:
        stable = pattern.sub("~", stable)
    return outcome, hashlib.sha256(stable.encode()).hexdigest(), seconds, message[:300]


# --- mutations ---------------------------------------------------------------------------
def _header_end(stream: bytes) -> int:
    """Bytes of the rdpbench header: format byte, then varints (codec id, width, height, op fields...)."""
    pos, fields = 1, 0
    while pos < len(stream) and fields < 4:
        fields += not stream[pos] & 0x80
        pos += 1
    return pos


def _varint_spans(stream: bytes, count: int) -> list[tuple[int, int]]:
    spans, pos = [], 1
    for _ in range(count):
        start = pos
        while pos < len(stream) and stream[pos] & 0x80:
            pos += 1
        pos += 1
        spans.append((start, min(pos, len(stream))))
    return spans


def mutate(stream: bytes, other: bytes, kind: str, rng: np.random.Generator) -> bytes:
    data = bytearray(stream)
    n = len(data)

    def rand(k: int) -> bytes:
        return rng.integers(0, 256, k, dtype=np.uint8).tobytes()

    if kind == "bit_flip":
        for _ in range(int(rng.integers(1, 5))):
            data[int(rng.integers(n))] ^= 1 << int(rng.integers(8))
    elif kind == "byte_set":
        for _ in range(int(rng.integers(1, 4))):
            data[int(rng.integers(n))] = int(rng.integers(256))
    elif kind == "truncate":
        del data[int(rng.integers(1, n)):]
    elif kind == "append":
        data += rand(int(rng.integers(1, 65)))
    elif kind == "insert":
        at = int(rng.integers(n))
        data[at:at] = rand(int(rng.integers(1, 17)))
    elif kind == "delete":
        at = int(rng.integers(n))
        del data[at:at + int(rng.integers(1, 17))]
    elif kind in ("header_size", "header_op"):
        spans = _varint_spans(stream, 4)
        start, end = spans[int(rng.integers(1, 3))] if kind == "header_size" else spans[3]
        big = int(rng.choice([rng.integers(0, 1 << 7), rng.integers(0, 1 << 14), rng.integers(0, 1 << 21)]))
        data[start:end] = write_varint(big)
    elif kind == "header_byte":
        data[int(rng.integers(_header_end(stream)))] = int(rng.integers(256))
    elif kind == "splice":  # this header, another seed's payload (another size or op)
        data = bytearray(stream[:_header_end(stream)] + other[_header_end(other):])
    elif kind == "random_payload":
        data = bytearray(stream[:_header_end(stream)] + rand(int(rng.integers(0, 2 * n))))
    else:  # random_stream
        data = bytearray(rand(int(rng.integers(0, 2 * n))))
    return bytes(data)


def mutated_streams(seeds: Sequence[bytes], count: int, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    while len(out) < count:
        kind = MUTATIONS[len(out) % len(MUTATIONS)]
        i = int(rng.integers(len(seeds)))
        stream = mutate(seeds[i], seeds[(i + 1) % len(seeds)], kind, rng)
        if stream not in seeds:
            out.append((kind, stream))
    return out


# --- the run -----------------------------------------------------------------------------
@dataclass
class CodecReport:
    seeds: int = 0
    streams: int = 0
    outcomes: Counter = field(default_factory=Counter)
    by_mutation: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    slowest_s: float = 0.0
    examples: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        image_share = self.outcomes["image"] / self.streams if self.streams else float("nan")
        return {"seeds": self.seeds, "streams": self.streams, "decodes": 2 * self.streams,
                **{o: self.outcomes[o] for o in OUTCOMES}, "image_share": round(image_share, 4),
                "slowest_decode_s": round(self.slowest_s, 2), "examples": self.examples,
                "image_by_mutation": {k: v["image"] for k, v in sorted(self.by_mutation.items())}}


def prepare_weights(labels: Sequence[str], configs: dict[str, dict[str, Any]]) -> list[str]:
    """Random stand-ins, for every quality (a corrupt header may ask for any), in the (temporary) cache."""
    from rdpbench.codecs.random_weights import save_random_msillm_weights, save_random_zoo_weights
    from rdpbench.runners.tasks import build_codec

    made = []
    for label in labels:
        if label.startswith("compressai_"):
            codec = build_codec(configs[label])
            sizes = ZOO_SIZES.get(codec.architecture, ZOO_SIZES["default"])
            knob = codec.knob("quality")
            for quality in range(int(knob.low), int(knob.high) + 1):
                save_random_zoo_weights(codec.architecture, codec.metric, quality, quality, sizes)
            made.append(label)
        elif label == "msillm":
            try:
                codec = build_codec(configs[label])
                knob = codec.knob("quality")
                for quality in range(int(knob.low), int(knob.high) + 1):
                    save_random_msillm_weights(quality, codec.architecture, quality)
            except ImportError:  # neuralcompression missing: encode_seeds reports it
                continue
            made.append(label)
    return made


def fuzz(labels: Sequence[str], streams: int, workers: int = 2, timeout: float = 30.0, seed: int = 0,
         check_bytes: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the fuzz target; return the report (also what the test suite's small version checks)."""
    from rdpbench.runners.workers import run_supervised

    start = time.perf_counter()
    extra = {label: (f"codec.check_bytes={check_bytes}",) if check_bytes is not None and label.startswith(LEARNED)
             else () for label in labels}
    configs = {label: codec_config(label, extra[label]) for label in labels}
    with tempfile.TemporaryDirectory(prefix="rdpbench-fuzz-") as cache, mock.patch.dict(os.environ, {
            "RDPBENCH_CACHE": cache, "TORCH_HOME": str(Path(cache) / "torch"), "RDPBENCH_OFFLINE": "1",
            "PYTHONWARNINGS": "ignore::FutureWarning"}):
        random_weights = prepare_weights(labels, configs)  # workers inherit this environment
        log(f"configs and random weights ready in {time.perf_counter() - start:.0f} s")
        seeds: dict[str, list[bytes]] = {}
        skipped: dict[str, str] = {}
        for label, made, reason in run_supervised(encode_seeds, labels, lambda lb: (lb, configs[lb]), workers,
                                                  lambda lb, why: (lb, [], f"seed encoding: {why}"), None):
            if made:
                seeds[label] = made
            else:
                skipped[label] = reason
                log(f"skipped {label}: {reason}")
        encoded_s = time.perf_counter() - start
        rng = np.random.default_rng(seed)
        active = [lb for lb in labels if lb in seeds]
        per_codec = {lb: streams // len(active) + (i < streams % len(active)) for i, lb in enumerate(active)}
        cases = [(lb, kind, s) for lb in active for kind, s in mutated_streams(seeds[lb], per_codec[lb], rng)]
        order = list(range(len(cases)))
        rng.shuffle(order)
        jobs = [(i, r) for r in (0, 1) for i in (order if r == 0 else order[::-1])]
        results: dict[tuple[int, int], tuple[str, str, float, str]] = {}
        done = 0
        warm = ({lb: configs[lb] for lb in active}, {lb: seeds[lb][0] for lb in active})
        for key, outcome in run_supervised(
                _decode_job, jobs, lambda job: (job, cases[job[0]][0], configs[cases[job[0]][0]], cases[job[0]][2]),
                workers, lambda job, why: (job, ("crash" if "worker process" in why else "hang", why, timeout, why)),
                timeout, warm_up, warm):
            results[key] = outcome
            done += 1
            if done % 2000 == 0:
                log(f"{done}/{len(jobs)} decodes, {time.perf_counter() - start:.0f} s")
    reports = {lb: CodecReport(seeds=len(seeds[lb])) for lb in active}
    for i, (label, kind, _) in enumerate(cases):
        first, second = results[(i, 0)], results[(i, 1)]
        lost = [r[0] for r in (first, second) if r[0] in ("crash", "hang")]
        if lost:
            outcome = "crash" if "crash" in lost else "hang"
        else:
            outcome = first[0] if (first[0], first[1]) == (second[0], second[1]) else "nondeterministic"
        report = reports[label]
        report.streams += 1
        report.outcomes[outcome] += 1
        report.by_mutation[kind][outcome] += 1
        report.slowest_s = max(report.slowest_s, first[2], second[2])
        if outcome != "image":
            report.examples.setdefault(outcome, f"{kind}: {first[3] or second[3]}"[:300])
    totals = Counter()
    for report in reports.values():
        totals.update(report.outcomes)
    n = sum(r.streams for r in reports.values())
    return {"streams": n, "decodes": 2 * n, "workers": workers, "timeout_s": timeout, "seed": seed,
            "check_bytes": check_bytes, "seconds": round(time.perf_counter() - start, 1),
            "seed_encoding_s": round(encoded_s, 1), "random_weights": random_weights, "zoo_sizes": ZOO_SIZES,
            "totals": {o: totals[o] for o in OUTCOMES}, "image_share": round(totals["image"] / n, 4) if n else None,
            "skipped": skipped, "codecs": {lb: r.as_dict() for lb, r in reports.items()}}


def _decode_job(job: tuple[int, int], label: str, config: dict[str, Any], stream: bytes):
    return job, decode_outcome(label, config, stream)


def print_table(result: dict[str, Any], log: Callable[[str], None] = print) -> None:
    columns = ("streams", *OUTCOMES, "image_share", "slowest_decode_s")
    log(f"{'codec':34s}" + "".join(f"{c[:12]:>13s}" for c in columns))
    for label, row in result["codecs"].items():
        log(f"{label:34s}" + "".join(f"{row[c]:>13}" for c in columns))
    log(f"{'total':34s}{result['streams']:>13}" + "".join(f"{result['totals'][o]:>13}" for o in OUTCOMES)
        + f"{result['image_share']:>13}")
    log(f"{result['decodes']} decodes of {result['streams']} mutated streams in {result['seconds']} s "
        f"({result['workers']} workers, timeout {result['timeout_s']} s, check_bytes={result['check_bytes']})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10000, help="mutated streams in all (each decoded twice)")
    parser.add_argument("--codecs", default=",".join(CODECS), help="comma-separated conf/codec labels")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per decode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-bytes", type=int, default=None, help="CRC bytes of the learned codecs")
    parser.add_argument("--out", default=None, help="JSON output (default benchmarks/results/fuzz[_check<N>].json)")
    args = parser.parse_args(argv)
    labels = [lb for lb in args.codecs.split(",") if lb]
    unknown = sorted(set(labels) - set(CODECS))
    if unknown:
        parser.error(f"unknown codecs {unknown}; choose from {list(CODECS)}")
    result = fuzz(labels, args.streams, args.workers, args.timeout, args.seed, args.check_bytes)
    print_table(result)
    suffix = "" if args.check_bytes is None else f"_check{args.check_bytes}"
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"fuzz{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {out}")
    return 1 if any(result["totals"][o] for o in FAILING) else 0


if __name__ == "__main__":
    sys.exit(main())
