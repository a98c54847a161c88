"""The results store: the only thing reports read.

Layout under a results directory R:
  rows/<dataset>/<codec>-<hash8>/<image>.json        one JSON list of rows per finished image
  failures/<dataset>/<codec>-<hash8>/<image>.json    why an image failed (removed once it succeeds)
  streams/<dataset>/<codec>-<hash8>/<image>/<op>.bin the bitstreams every row was measured from
                                                     (each row records its SHA-256: read_stream checks it)
  recon/<dataset>/<codec>-<hash8>/<image>/<op>.png   decoded images (first N images of a run)
  dataset_metrics/<dataset>/<codec>-<hash8>.json     FID/KID and other dataset-level rows
  metrics/<metric>.json                              what reports need about a metric column: label,
                                                     unit, direction (implementations are in the rows)
  summary.csv                                        per dataset x codec x op means
Every file is written to a temporary name, fsynced and renamed, so a killed run leaves
only whole files, and processes sharing one store (array jobs) never see half a file; an
image's row file is written only once all its artifacts are on disk, so a rerun skips
every image whose row file exists and loses nothing it measured.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote

import pandas as pd

from rdpbench.errors import StoreError
from rdpbench.metrics.base import MetricInfo

SUMMARY_KEYS = ["dataset", "codec", "config_hash", "op_label"]


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on a folder between processes (flock; also across NFSv4 clients), for
    read-merge-write updates; plain writes need none (they are atomic renames)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def merge_metrics(row: dict[str, Any], values: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """`row` with the metrics `names` (value, implementation, error) taken from `values` (another row
    of the same stream, or freshly computed scores); its other metrics are kept."""
    names = list(names)
    impl = json.loads(row.get("metric_impl") or "{}")
    errors = {k: v for k, v in json.loads(row.get("metric_errors") or "{}").items() if k not in names}
    their_impl = json.loads(values.get("metric_impl") or "{}")
    their_errors = json.loads(values.get("metric_errors") or "{}")
    impl.update({n: their_impl[n] for n in names if n in their_impl})
    errors.update({n: their_errors[n] for n in names if n in their_errors})
    return {**row, **{n: values.get(n) for n in names}, "metric_impl": json.dumps(impl, sort_keys=True),
            "metric_errors": json.dumps(errors, sort_keys=True)}


def safe_name(text: str) -> str:
    """File-system-safe, injective version of an image name or op label (kept readable).

    Percent-encoding (urllib.parse.quote) of everything but ASCII letters, digits and
    `=,+_.-~`, and of a leading dot: names made only of those characters (Kodak, CLIC,
    DIV2K ids, op labels) are unchanged, and two different names never share a file
    ('a b' -> 'a%20b', 'a_b' -> 'a_b').
    """
    name = quote(text, safe="=,+")
    return "%2E" + name[1:] if name.startswith(".") else name


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_checked(path: Path, sha256: str | None, what: str) -> bytes:
    """The bytes of a stored file, refused (StoreError) unless they have the SHA-256 its row recorded."""
    if not sha256:
        raise StoreError(f"{what}: its row records no SHA-256 (written by an older rdpbench), so {path} cannot be "
                         f"checked; re-run that image (delete its row file) to re-decode it")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{what}: cannot read {path} ({exc}); re-run that image (delete its row file)") from exc
    if sha256_hex(data) != sha256:
        raise StoreError(f"{what}: {path} has SHA-256 {sha256_hex(data)}, its row recorded {sha256}: the file was "
                         f"changed after the run; restore it or re-run that image (delete its row file)")
    return data


class ResultStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def codec_key(codec_label: str, config_hash: str) -> str:
        return f"{safe_name(codec_label)}-{config_hash[:8]}"

    def _file(self, kind: str, dataset: str, codec_key: str, image: str) -> Path:
        return self.root / kind / safe_name(dataset) / codec_key / f"{safe_name(image)}.json"

    def read_rows(self, dataset: str, codec_key: str, image: str) -> list[dict[str, Any]] | None:
        """One finished image's rows, None when it has none yet."""
        path = self._file("rows", dataset, codec_key, image)
        return json.loads(path.read_text()) if path.exists() else None

    def write_rows(self, dataset: str, codec_key: str, image: str, rows: list[dict[str, Any]]) -> None:
        """Write one image's rows. When rows of the same streams are already stored (another process,
        e.g. an array job with other metrics, finished them meanwhile), their metrics that `rows` lack
        are kept, so concurrent runs adding different metrics lose nothing."""
        path = self._file("rows", dataset, codec_key, image)
        with _locked(path.parent):
            stored = {(r["op_label"], r["bytes"]): r for r in json.loads(path.read_text())} if path.exists() else {}
            merged = []
            for row in rows:
                other = stored.get((row["op_label"], row["bytes"]))
                theirs = set(json.loads(other.get("metric_impl") or "{}")) if other else set()
                missing = theirs - set(json.loads(row.get("metric_impl") or "{}"))
                merged.append(merge_metrics(row, other, sorted(missing)) if missing else row)
            # compact: json's C encoder does not indent, and the pure-Python one cost ~2 ms an image task
            write_atomic(path, json.dumps(merged).encode())
        self._file("failures", dataset, codec_key, image).unlink(missing_ok=True)

    def write_failure(self, dataset: str, codec_key: str, image: str, message: str) -> None:
        record = {"dataset": dataset, "codec_key": codec_key, "image": image, "error": message}
        write_atomic(self._file("failures", dataset, codec_key, image), json.dumps(record).encode())

    def artifact_path(self, kind: str, dataset: str, codec_key: str, image: str, op_label: str, suffix: str) -> Path:
        """Path relative to the store root, as recorded in rows (stream_path, recon_path)."""
        return Path(kind) / safe_name(dataset) / codec_key / safe_name(image) / f"{safe_name(op_label)}{suffix}"

    def write_artifact(self, relative: Path, data: bytes) -> None:
        write_atomic(self.root / relative, data)

    def read_stream(self, row: Mapping[str, Any]) -> bytes:
        """The stored bitstream of a row, checked against the row's `stream_sha256` before anyone decodes it."""
        what = f"stored stream of {row.get('image')!r} with codec {row.get('codec')!r} at {row.get('op_label')!r}"
        return read_checked(self.root / str(row["stream_path"]), row.get("stream_sha256"), what)

    def write_metric_info(self, info: MetricInfo) -> None:
        write_atomic(self.root / "metrics" / f"{safe_name(info.name)}.json", json.dumps(asdict(info)).encode())

    @contextmanager
    def background_artifacts(self) -> Iterator[Callable[[Path, Callable[[], bytes]], None]]:
        """write(relative_path, make_bytes): the file is made and written (fsync included) on a
        thread while the caller goes on with the next operating point; leaving the block waits
        for every file and re-raises the first write error, so rows written after it only ever
        point at artifacts already on disk."""
        pending: list[Future] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rdpbench-artifacts") as writer:
            def write(relative: Path, make: Callable[[], bytes]) -> None:
                pending.append(writer.submit(lambda: self.write_artifact(relative, make())))

            yield write
        for future in pending:
            future.result()

    def write_dataset_metrics(self, dataset: str, codec_key: str, rows: list[dict[str, Any]]) -> None:
        path = self.root / "dataset_metrics" / safe_name(dataset) / f"{codec_key}.json"
        write_atomic(path, json.dumps(rows, indent=1).encode())


def _read_json_lists(files: Iterable[Path]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(files):
        content = json.loads(path.read_text())
        records.extend(content if isinstance(content, list) else [content])
    return records


def load_rows(root: str | Path) -> pd.DataFrame:
    """All per-image rows under a results directory, one row per (dataset, image, codec, op)."""
    return pd.DataFrame(_read_json_lists((Path(root) / "rows").glob("*/*/*.json")))


def load_failures(root: str | Path) -> pd.DataFrame:
    return pd.DataFrame(_read_json_lists((Path(root) / "failures").glob("*/*/*.json")))


def load_dataset_metrics(root: str | Path) -> pd.DataFrame:
    return pd.DataFrame(_read_json_lists((Path(root) / "dataset_metrics").glob("*/*.json")))


def load_metric_info(root: str | Path) -> dict[str, MetricInfo]:
    """Label, unit and direction of every metric a run wrote into the store, by name."""
    infos = (MetricInfo(**record) for record in _read_json_lists((Path(root) / "metrics").glob("*.json")))
    return {info.name: info for info in infos}


def metric_columns(rows: pd.DataFrame) -> list[str]:
    """Metric columns are the keys of metric_impl, so new metrics need no change here."""
    names: set[str] = set()
    for impl in rows.get("metric_impl", pd.Series(dtype=object)).dropna():
        names.update(json.loads(impl))
    return sorted(n for n in names if n in rows.columns)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over images of bpp and each metric per dataset x codec x operating point.

    Means of per-image values, as CompressAI reports (not the metric of the mean MSE).
    """
    if rows.empty:
        return pd.DataFrame()
    value_columns = ["bpp", "bytes", "header_bytes", "encode_s", "decode_s", *metric_columns(rows)]
    grouped = rows.groupby(SUMMARY_KEYS, sort=True)
    summary = grouped[value_columns].mean()
    summary.insert(0, "images", grouped.size())
    return summary.reset_index().sort_values(["dataset", "codec", "bpp"]).reset_index(drop=True)
