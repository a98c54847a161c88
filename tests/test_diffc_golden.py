"""DiffC on the generative kit writes the very bytes the pre-kit adapter wrote (streams recorded from main)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden")
sys.path.insert(0, str(GOLDEN))
from record_diffc import crop  # noqa: E402

from rdpbench.codecs.diffc import DiffC  # noqa: E402
from rdpbench.diffusion.gaussian import GaussianDenoiser  # noqa: E402

CASES = json.loads((GOLDEN / "diffc_gaussian.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_streams_and_reconstructions_match_the_recorded_ones(case):
    codec = DiffC(GaussianDenoiser(), **case["config"])
    image = crop(case["file"], tuple(case["rows"]), tuple(case["cols"]))
    steps = [int(k) for k in case["streams"]]
    streams = codec.encode_many(image, [{"steps": k} for k in steps])
    assert [s.hex() for s in streams] == list(case["streams"].values())
    for k, stream in zip(steps, streams):
        assert hashlib.sha256(codec.decode(stream).tobytes()).hexdigest() == case["decoded_sha256"][str(k)]
