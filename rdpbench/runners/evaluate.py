"""Evaluate one image with one codec: encode -> bytes -> decode -> metrics -> rows in the store.

This is the unit of work, of resumption and of parallelism: its rows are written in
one atomic file when the image is finished, and a rerun skips it.
"""

from __future__ import annotations

import io
import json
import time
import traceback
from typing import Any

import numpy as np
from PIL import Image

from rdpbench.codecs.base import Codec, OperatingPoint, op_label
from rdpbench.data.images import load_image
from rdpbench.errors import CodecError, MetricUnavailable, RdpbenchError, WeightsError
from rdpbench.metrics.base import Metric, create_metric
from rdpbench.results.store import ResultStore, sha256_hex
from rdpbench.runners.isolated import decode_stored_in_fresh_process
from rdpbench.runners.rate_control import bisect_to_target, stream_bpp
from rdpbench.runners.tasks import ImageTask, RunSettings, TaskOutcome, build_codec

# Per-process caches: a worker builds each codec and metric once, not once per image.
_CODECS: dict[str, Codec] = {}
_METRICS: dict[tuple[str, str], Metric | str] = {}


def _codec(task: ImageTask, settings: RunSettings) -> Codec:
    if task.codec.key not in _CODECS:
        _CODECS[task.codec.key] = build_codec(task.codec.config, settings.max_pixels)
    return _CODECS[task.codec.key]


def _metric(name: str, options: dict[str, Any]) -> Metric | str:
    """The metric, or the reason it is unavailable (kept, so the column stays empty with a reason)."""
    key = (name, json.dumps(options, sort_keys=True))
    if key not in _METRICS:
        try:
            _METRICS[key] = create_metric(name, **options)
        except (MetricUnavailable, WeightsError, ImportError) as exc:
            _METRICS[key] = f"{type(exc).__name__}: {exc}"
    return _METRICS[key]


def score(reference: np.ndarray, reconstruction: np.ndarray, settings: RunSettings) -> dict[str, Any]:
    values: dict[str, Any] = {}
    impl: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in settings.metrics:
        metric = _metric(name, settings.metric_options.get(name, {}))
        if isinstance(metric, str):
            values[name], errors[name] = float("nan"), metric
            continue
        impl[name] = metric.implementation
        try:
            values[name] = float(metric(reference, reconstruction))
        except (RdpbenchError, ValueError, RuntimeError) as exc:
            values[name], errors[name] = float("nan"), f"{type(exc).__name__}: {exc}"
    return {**values, "metric_impl": json.dumps(impl, sort_keys=True), "metric_errors": json.dumps(errors, sort_keys=True)}


def _streams(codec: Codec, image: np.ndarray, settings: RunSettings) -> list[tuple[str, OperatingPoint, bytes, float, dict[str, Any]]]:
    """(op_label, op, stream, encode seconds, extra row fields) for every requested point."""
    if settings.target_bpp is None:
        ops = codec.operating_points()
        no_target = {"target_bpp": float("nan")}
        if not codec.progressive:  # independent encodes: time each one
            timed = []
            for op in ops:
                start = time.perf_counter()
                timed.append((op_label(op), op, codec.encode(image, op), time.perf_counter() - start, no_target))
            return timed
        start = time.perf_counter()  # one pass yields every point: share its time among them
        streams = codec.encode_many(image, ops)
        elapsed = (time.perf_counter() - start) / max(1, len(ops))
        return [(op_label(op), op, s, elapsed, no_target) for op, s in zip(ops, streams)]
    bases = {json.dumps({k: v for k, v in op.items() if k != codec.rate_knob}): op for op in codec.operating_points()}
    out = []
    for base_json in sorted(bases):
        base = json.loads(base_json)
        for target in settings.target_bpp:
            start = time.perf_counter()
            result = bisect_to_target(codec, image, base, target)
            elapsed = time.perf_counter() - start
            label = op_label({**base, "target_bpp": target})
            extra = {"target_bpp": target, "target_reached": result.reached, "rate_control_encodes": result.encodes}
            out.append((label, result.op, result.stream, elapsed, extra))
    return out


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def evaluate_image(task: ImageTask, settings: RunSettings) -> TaskOutcome:
    """Never raises: a bad image or codec failure becomes a failure record and a message."""
    store = ResultStore(settings.results_dir)
    start = time.perf_counter()
    try:
        rows = _evaluate(task, settings, store)
        store.write_rows(settings.dataset, task.codec.key, task.image.name, rows)
        return TaskOutcome(task, True, seconds=time.perf_counter() - start)
    except Exception as exc:  # one bad image never kills a run
        brief = str(exc) if isinstance(exc, RdpbenchError) else f"{type(exc).__name__}: {exc}"
        message = f"{task.image.path} with codec {task.codec.label!r}: {brief}"
        detail = message if isinstance(exc, RdpbenchError) else message + "\n" + traceback.format_exc()
        store.write_failure(settings.dataset, task.codec.key, task.image.name, detail)
        return TaskOutcome(task, False, message, time.perf_counter() - start)


def _evaluate(task: ImageTask, settings: RunSettings, store: ResultStore) -> list[dict[str, Any]]:
    image, conversion = load_image(task.image.path)
    codec = _codec(task, settings)
    height, width = image.shape[:2]
    keep_recon = settings.save_reconstructions is None or task.index < settings.save_reconstructions
    rows = []
    for label, op, stream, encode_s, extra in _streams(codec, image, settings):
        start = time.perf_counter()
        decoded = codec.decode(stream)
        decode_s = time.perf_counter() - start
        stream_path = store.artifact_path("streams", settings.dataset, task.codec.key, task.image.name, label, ".bin")
        store.write_artifact(stream_path, stream)
        digest = sha256_hex(stream)
        verified = "none"
        if settings.verify == "isolated":  # from the stored file, as anything that re-decodes it later would
            fresh = decode_stored_in_fresh_process(task.codec.config, store.root / stream_path, digest,
                                                   settings.max_pixels)
            if not np.array_equal(fresh, decoded):
                raise CodecError(f"codec {task.codec.label!r} at {label}: a fresh-process decode differs from the "
                                 f"in-process decode (decoder depends on state other than the bytes)")
            verified = "isolated"
        recon_path = ""
        if keep_recon:
            recon = store.artifact_path("recon", settings.dataset, task.codec.key, task.image.name, label, ".png")
            store.write_artifact(recon, _png(decoded))
            recon_path = str(recon)
        sections = codec.sections(stream)
        rows.append({
            "dataset": settings.dataset, "image": task.image.name, "width": width, "height": height,
            "conversion": conversion, "codec": task.codec.label, "codec_name": task.codec.codec_name,
            "op": json.dumps(op, sort_keys=True), "op_label": label, **extra,
            "bytes": len(stream), "header_bytes": sections["header"],
            **{f"bytes_{name}": n for name, n in sections.items()},
            "bpp": stream_bpp(stream, image), "encode_s": encode_s, "decode_s": decode_s,
            **score(image, decoded, settings),
            "stream_path": str(stream_path), "stream_sha256": digest, "recon_path": recon_path, "verified": verified,
            "config_hash": task.codec.config_hash, "codec_config": task.codec.description,
            "versions": json.dumps(settings.versions, sort_keys=True), "git_commit": settings.git_commit,
            "seed": settings.seed,
        })
    return rows
