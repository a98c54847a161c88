"""Decode a bitstream in a fresh Python process with a freshly built adapter.

This is the check behind `verify=isolated`: if the decoder leaned on anything but the
bytes and its config (encoder state, a warm cache, global RNG state), the pixels differ.
Run as: python -m rdpbench.runners.isolated <codec_config.json> <stream.bin> <out.npy> <device>
(`device`: the worker's concrete device, e.g. cuda:1, activated as the run activates it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rdpbench.device import DevicePolicy
from rdpbench.errors import CodecError
from rdpbench.runners.tasks import build_codec

TIMEOUT_S = 3600


def decode_in_fresh_process(codec_config: dict[str, Any], stream: bytes, device: str = "cpu") -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="rdpbench-isolated-") as tmp:
        cfg_path, stream_path, out_path = Path(tmp, "codec.json"), Path(tmp, "stream.bin"), Path(tmp, "out.npy")
        cfg_path.write_text(json.dumps(codec_config))
        stream_path.write_bytes(stream)
        proc = subprocess.run([sys.executable, "-m", "rdpbench.runners.isolated", str(cfg_path), str(stream_path),
                               str(out_path), device], capture_output=True, text=True, timeout=TIMEOUT_S)
        if proc.returncode != 0:
            raise CodecError(f"isolated decode failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return np.load(out_path)


def main(argv: list[str]) -> None:
    cfg_path, stream_path, out_path, device = argv
    DevicePolicy.resolve(device).activate()
    codec = build_codec(json.loads(Path(cfg_path).read_text()))
    np.save(out_path, codec.decode(Path(stream_path).read_bytes()))


if __name__ == "__main__":
    main(sys.argv[1:])
