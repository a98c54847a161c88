"""Decode a bitstream in a fresh Python process with a freshly built adapter.

This is the check behind `verify=isolated`: if the decoder leaned on anything but the
bytes and its config (encoder state, a warm cache, global RNG state), the pixels differ.
The stream is a file with a known SHA-256 (the stored stream of a row): the child checks
it before decoding, so a file changed on disk is refused, never decoded. The child runs on the
worker's concrete device (e.g. cuda:1), activated as the run activates it (deterministic CUDA).
Run as: python -m rdpbench.runners.isolated <codec_config.json> <stream.bin> <sha256> <max_pixels> <out.npy> <device>
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.bitstream import DEFAULT_MAX_PIXELS
from rdpbench.device import DevicePolicy
from rdpbench.errors import CodecError
from rdpbench.results.store import read_checked, sha256_hex
from rdpbench.runners.tasks import build_codec

TIMEOUT_S = 3600


def child_environment() -> dict[str, str]:
    """The caller's environment, with its torch thread count (a worker's `threads` share) as the child's
    OpenMP limit, so a verifying decode does not take more cores than the worker it verifies for."""
    env = dict(os.environ)
    if "torch" in sys.modules:
        env["OMP_NUM_THREADS"] = str(sys.modules["torch"].get_num_threads())
    return env


def decode_stored_in_fresh_process(codec_config: dict[str, Any], stream_path: Path, sha256: str,
                                   max_pixels: int = DEFAULT_MAX_PIXELS, device: str = "cpu") -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="rdpbench-isolated-") as tmp:
        cfg_path, out_path = Path(tmp, "codec.json"), Path(tmp, "out.npy")
        cfg_path.write_text(json.dumps(codec_config))
        proc = subprocess.run([sys.executable, "-m", "rdpbench.runners.isolated", str(cfg_path), str(stream_path),
                               sha256, str(max_pixels), str(out_path), device], capture_output=True, text=True,
                              timeout=TIMEOUT_S, env=child_environment())
        if proc.returncode != 0:
            raise CodecError(f"isolated decode failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return np.load(out_path)


def decode_in_fresh_process(codec_config: dict[str, Any], stream: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                            device: str = "cpu") -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="rdpbench-isolated-") as tmp:
        path = Path(tmp, "stream.bin")
        path.write_bytes(stream)
        return decode_stored_in_fresh_process(codec_config, path, sha256_hex(stream), max_pixels, device)


def main(argv: list[str]) -> None:
    cfg_path, stream_path, sha256, max_pixels, out_path, device = argv
    DevicePolicy.resolve(device).activate()
    codec = build_codec(json.loads(Path(cfg_path).read_text()), int(max_pixels))
    np.save(out_path, codec.decode(read_checked(Path(stream_path), sha256, f"stream {stream_path}")))


if __name__ == "__main__":
    main(sys.argv[1:])
