"""The results store: the only thing reports read.

Layout under a results directory R:
  rows/<dataset>/<codec>-<hash8>/<image>.json        one JSON list of rows per finished image
  failures/<dataset>/<codec>-<hash8>/<image>.json    why an image failed (removed once it succeeds)
  streams/<dataset>/<codec>-<hash8>/<image>/<op>.bin the bitstreams every row was measured from
                                                     (each row records its SHA-256: read_stream checks it)
  recon/<dataset>/<codec>-<hash8>/<image>/<op>.png   decoded images (first N images of a run)
  dataset_metrics/<dataset>/<codec>-<hash8>.json     FID/KID and other dataset-level rows
  summary.csv                                        per dataset x codec x op means
Every file is written to a temporary name and renamed, so a killed run leaves only
whole files: a rerun skips every image whose row file exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote

import pandas as pd

from rdpbench.errors import StoreError

SUMMARY_KEYS = ["dataset", "codec", "config_hash", "op_label"]


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


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

    def has_rows(self, dataset: str, codec_key: str, image: str) -> bool:
        return self._file("rows", dataset, codec_key, image).exists()

    def write_rows(self, dataset: str, codec_key: str, image: str, rows: list[dict[str, Any]]) -> None:
        write_atomic(self._file("rows", dataset, codec_key, image), json.dumps(rows, indent=1).encode())
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
