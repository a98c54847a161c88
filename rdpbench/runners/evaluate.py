"""Evaluate one image with one codec: encode -> bytes -> decode -> metrics -> rows in the store.

This is the unit of work, of resumption and of parallelism: its rows are written in
one atomic file when the image is finished. A rerun skips it when the rows mean what the
run asks for, and completes them from the stored bytes when they lack a metric or a
verification (`ImageTask.complete`), without encoding again.
"""

from __future__ import annotations

import io
import json
import os
import time
import traceback
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from rdpbench.codecs.base import Codec, OperatingPoint, op_label
from rdpbench.data.images import load_image
from rdpbench.device import claim_slot, device_name
from rdpbench.errors import CodecError, DatasetError, MetricUnavailable, RdpbenchError, WeightsError
from rdpbench.metrics.base import Metric, Scorer, create_metric
from rdpbench.results.store import ResultStore, merge_metrics, sha256_hex
from rdpbench.runners.isolated import decode_stored_in_fresh_process
from rdpbench.runners.rate_control import bisect_to_target, stream_bpp
from rdpbench.runners.tasks import ImageTask, RunSettings, TaskOutcome, build_codec
from rdpbench.weights import sha256_of

# Per-process caches: a worker builds each codec and metric once, not once per image.
_CODECS: dict[str, Codec] = {}
_METRICS: dict[tuple[str, str, str], Metric | str] = {}
_ORIGINAL: dict[tuple[Any, ...], tuple[np.ndarray, str, "ImageScorer"]] = {}  # the last original, see _original
_SCORE_ERRORS = (RdpbenchError, ValueError, RuntimeError)  # a metric failing on one image: NaN with the reason
_DEVICES: dict[tuple[Any, str | None], str] = {}  # (policy, slot directory) -> this process's concrete device


def process_device(settings: RunSettings) -> str:
    """This process's device ('cpu', 'cuda:1'...): its worker slot is claimed and activated on first use."""
    key = (settings.device, settings.device_slots)
    if key not in _DEVICES:
        slot = claim_slot(settings.device_slots) if settings.device_slots else 0
        _DEVICES[key] = settings.device.activate(slot)
    return _DEVICES[key]


def _codec(task: ImageTask, settings: RunSettings) -> Codec:
    if task.codec.key not in _CODECS:
        _CODECS[task.codec.key] = build_codec(task.codec.config, settings.max_pixels)
    return _CODECS[task.codec.key]


def metric_or_reason(name: str, options: dict[str, Any], device: str) -> Metric | str:
    """The metric on the run's device, or the reason it is unavailable (the column stays empty with a reason)."""
    key = (name, json.dumps(options, sort_keys=True), device)
    if key not in _METRICS:
        try:
            _METRICS[key] = create_metric(name, device=device, **options)
        except (MetricUnavailable, WeightsError, ImportError) as exc:
            _METRICS[key] = f"{type(exc).__name__}: {exc}"
    return _METRICS[key]


class ImageScorer:
    """Metric columns, `metric_impl` and `metric_errors` of reconstructions of one reference, for
    `names` (default: the run's metrics). The metrics are bound to the reference once, so
    reference-side work (MS-SSIM's reference statistics) is done once per image, not per op."""

    def __init__(self, reference: np.ndarray, settings: RunSettings, names: Sequence[str] | None = None) -> None:
        self.names = tuple(settings.metrics if names is None else names)
        self.bound: dict[str, Scorer] = {}
        self.impl: dict[str, str] = {}
        self.errors: dict[str, str] = {}  # metric unavailable, or the reference refused (e.g. too small)
        for name in self.names:
            metric = metric_or_reason(name, settings.metric_options.get(name, {}), settings.device.name)
            if isinstance(metric, str):
                self.errors[name] = metric
                continue
            self.impl[name] = metric.implementation
            try:
                self.bound[name] = metric.bind(reference)
            except _SCORE_ERRORS as exc:
                self.errors[name] = f"{type(exc).__name__}: {exc}"

    def __call__(self, reconstruction: np.ndarray) -> dict[str, Any]:
        values: dict[str, Any] = {}
        errors = dict(self.errors)
        for name in self.names:
            values[name] = float("nan")
            if name in self.bound:
                try:
                    values[name] = float(self.bound[name](reconstruction))
                except _SCORE_ERRORS as exc:
                    errors[name] = f"{type(exc).__name__}: {exc}"
        return {**values, "metric_impl": json.dumps(self.impl, sort_keys=True),
                "metric_errors": json.dumps(errors, sort_keys=True)}


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


def image_provenance(task: ImageTask, settings: RunSettings) -> dict[str, Any]:
    """Which original a row was measured against, so a report finds and checks it wherever the data
    root is: its dataset, its path relative to the data root (`image_root` "data_root"; the run's
    data root is kept too), to the installed package ("package": the shipped sample) or to its own
    folder, and its SHA-256."""
    stat = os.stat(task.image.path)
    return {"dataset_id": settings.dataset_id, "dataset_size": settings.dataset_size,
            **_image_record(str(task.image.path), settings.data_root, stat.st_mtime_ns, stat.st_size)}


@lru_cache(maxsize=1)
def _image_record(image: str, data_root: str, mtime_ns: int, size: int) -> dict[str, str]:
    """The last original's location and digest (tasks come image by image, so its codecs share one
    hashing); mtime and size are in the key, so a file changed in between is hashed again."""
    path = Path(image).resolve()
    roots = {"data_root": Path(data_root).expanduser().resolve(),
             "package": Path(str(resources.files("rdpbench.data"))).resolve()}
    root, relative = str(path.parent), path.name
    for name, folder in roots.items():
        if path.is_relative_to(folder):
            root, relative = name, path.relative_to(folder).as_posix()
            break
    return {"image_root": root, "image_path": relative, "image_sha256": sha256_of(path),
            "data_root": str(roots["data_root"])}


def _png(image: np.ndarray) -> bytes:
    """Lossless at any level; zlib level 1 is ~3x faster than Pillow's default 6 and no larger on photos."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def evaluate_image(task: ImageTask, settings: RunSettings) -> TaskOutcome:
    """Never raises: a bad image or codec failure becomes a failure record and a message."""
    store = ResultStore(settings.results_dir)
    start = time.perf_counter()
    try:
        process_device(settings)
        rows = _complete(task, settings, store) if task.complete else _evaluate(task, settings, store)
        store.write_rows(settings.dataset, task.codec.key, task.image.name, rows)
        return TaskOutcome(task, True, seconds=time.perf_counter() - start)
    except Exception as exc:  # one bad image never kills a run
        brief = str(exc) if isinstance(exc, RdpbenchError) else f"{type(exc).__name__}: {exc}"
        message = f"{task.image.path} with codec {task.codec.label!r}: {brief}"
        detail = message if isinstance(exc, RdpbenchError) else message + "\n" + traceback.format_exc()
        store.write_failure(settings.dataset, task.codec.key, task.image.name, detail)
        return TaskOutcome(task, False, message, time.perf_counter() - start)


def _verified(task: ImageTask, settings: RunSettings, store: ResultStore, row: dict[str, Any],
              decoded: np.ndarray) -> str:
    """Decode the stored stream file of `row` in a fresh process (checked against its SHA-256 first),
    on this worker's device."""
    fresh = decode_stored_in_fresh_process(task.codec.config, store.root / row["stream_path"], row["stream_sha256"],
                                           settings.max_pixels, process_device(settings))
    label = row["op_label"]
    if not np.array_equal(fresh, decoded):
        raise CodecError(f"codec {task.codec.label!r} at {label}: a fresh-process decode differs from the "
                         f"in-process decode (decoder depends on state other than the bytes)")
    return "isolated"


def _complete(task: ImageTask, settings: RunSettings, store: ResultStore) -> list[dict[str, Any]]:
    """The stored rows with what they lack added from their stored streams (no encoding)."""
    assert task.complete is not None
    rows = store.read_rows(settings.dataset, task.codec.key, task.image.name) or []
    provenance = image_provenance(task, settings)
    measured_on = {row["image_sha256"] for row in rows if row.get("image_sha256")}
    if measured_on and measured_on != {provenance["image_sha256"]}:
        raise DatasetError(f"{task.image.path} is not the image these rows were measured on (SHA-256 "
                           f"{provenance['image_sha256'][:12]} vs {sorted(measured_on)[0][:12]}); the dataset changed: "
                           f"use a new results_dir or delete {settings.dataset}/{task.codec.key} from this one")
    image, _ = load_image(task.image.path)
    codec = _codec(task, settings)
    scorer = ImageScorer(image, settings, task.complete.metrics)
    completed = []
    for row in rows:
        decoded = codec.decode(store.read_stream(row))
        if task.complete.verify and row.get("verified") != "isolated":
            row = {**row, "verified": _verified(task, settings, store, row, decoded)}
        if task.complete.metrics:
            row = merge_metrics(row, scorer(decoded), task.complete.metrics)
        completed.append({**row, **provenance})
    return completed


def _original(task: ImageTask, settings: RunSettings) -> tuple[np.ndarray, str, ImageScorer]:
    """The task's original image, its conversion note and the run's metrics bound to it.

    Kept for the next task of the same file (tasks come image by image), so the codecs of one
    image share one decode and one binding (MS-SSIM's reference statistics); one image at a time."""
    try:
        stat = os.stat(task.image.path)
    except OSError:
        load_image(task.image.path)  # raises the error that names the file and what to do
        raise
    key = (str(task.image.path), stat.st_mtime_ns, stat.st_size, settings.metrics,
           json.dumps(settings.metric_options, sort_keys=True), settings.device.name)
    if key not in _ORIGINAL:
        _ORIGINAL.clear()
        image, conversion = load_image(task.image.path)
        _ORIGINAL[key] = (image, conversion, ImageScorer(image, settings))
    return _ORIGINAL[key]


def release_original() -> None:
    """Drop the kept original (a run's last image and its bound metrics) once the run is over."""
    _ORIGINAL.clear()


def _evaluate(task: ImageTask, settings: RunSettings, store: ResultStore) -> list[dict[str, Any]]:
    image, conversion, scorer = _original(task, settings)
    provenance = image_provenance(task, settings)
    codec = _codec(task, settings)
    height, width = image.shape[:2]
    keep_recon = settings.save_reconstructions is None or task.index < settings.save_reconstructions
    rows = []
    compute_device, dtype = codec.compute()
    compute = {"device": compute_device, "device_name": device_name(compute_device), "compute_dtype": dtype,
               "metric_device": settings.device.name}
    with store.background_artifacts() as write:  # fsynced on a thread while the next op is scored
        for label, op, stream, encode_s, extra in _streams(codec, image, settings):
            start = time.perf_counter()
            decoded = codec.decode(stream)
            decode_s = time.perf_counter() - start
            where = (settings.dataset, task.codec.key, task.image.name, label)
            stream_path = store.artifact_path("streams", *where, ".bin")
            digest = sha256_hex(stream)
            verified = "none"
            if settings.verify == "isolated":  # from the stored file, as anything that re-decodes it later does
                store.write_artifact(stream_path, stream)
                verified = _verified(task, settings, store, {"stream_path": stream_path, "stream_sha256": digest,
                                                             "op_label": label}, decoded)
            else:
                write(stream_path, lambda stream=stream: stream)
            recon_path = ""
            if keep_recon:
                recon = store.artifact_path("recon", *where, ".png")
                write(recon, lambda decoded=decoded: _png(decoded))
                recon_path = str(recon)
            sections = codec.sections(stream)
            rows.append({
                "dataset": settings.dataset, "image": task.image.name, **provenance, "width": width, "height": height,
                "conversion": conversion, "codec": task.codec.label, "codec_name": task.codec.codec_name,
                "op": json.dumps(op, sort_keys=True), "op_label": label, **extra,
                "bytes": len(stream), "header_bytes": sections["header"],
                **{f"bytes_{name}": n for name, n in sections.items()},
                "bpp": stream_bpp(stream, image), "encode_s": encode_s, "decode_s": decode_s, **compute,
                **scorer(decoded),
                "stream_path": str(stream_path), "stream_sha256": digest, "recon_path": recon_path,
                "verified": verified, "config_hash": task.codec.config_hash, "codec_config": task.codec.description,
                "versions": json.dumps(settings.versions, sort_keys=True), "git_commit": settings.git_commit,
                "seed": settings.seed,
            })
    return rows
