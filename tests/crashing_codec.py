"""A JPEG adapter whose decoder kills its own process for chosen image widths: a stand-in for a
native decoder that segfaults, or a worker the OOM killer takes (used by test_runner's crash test)."""

from __future__ import annotations

import ctypes
import os
import signal

import numpy as np

from rdpbench.bitstream import Header
from rdpbench.codecs.base import OperatingPoint
from rdpbench.codecs.pillow_codecs import JPEG

SEGFAULT_WIDTH, SIGKILL_WIDTH = 71, 73


class CrashingJPEG(JPEG):
    name = "crashing-jpeg"  # not registered: reached through _target_ only

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        if header.width == SEGFAULT_WIDTH:
            ctypes.string_at(0)  # reads address 0: SIGSEGV, as a native decoder's bad read would
        if header.width == SIGKILL_WIDTH:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer sends
        return super().decode_payload(payload, header, op)
