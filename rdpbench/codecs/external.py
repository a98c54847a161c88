"""Video-codec intra coders through their command-line encoders: x265 (HEVC), aomenc and SVT-AV1 (AV1), vvenc (VVC).

Colour: RGB is converted by ffmpeg/swscale to 8-bit planar YCbCr with the full-range
BT.601 matrix (the JPEG/BPG convention), chroma 4:4:4 or 4:2:0 (bicubic downsampling),
and back with the same matrix and range, flags accurate_rnd+full_chroma_int+bitexact.
The conversion alone costs PSNR (8-bit rounding, plus chroma resampling for 4:2:0);
benchmarks/bench_codecs.py measures it. The encoder receives raw YUV, so no colour
metadata (VUI) is written or trusted: the decoder side applies the fixed inverse.
Payload = the encoder's elementary stream: HEVC Annex-B (.hevc), AV1 low-overhead OBUs
(aomenc --obu; SVT-AV1's IVF frame container is stripped to the same OBUs), VVC
Annex-B (.266). No container bytes are counted because none are stored.
Every tool runs single-threaded in a temp dir, with a timeout.
"""

from __future__ import annotations

import ctypes
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rdpbench.bitstream import Header
from rdpbench.codecs.base import Codec, Knob, OperatingPoint
from rdpbench.codecs.registry import register_codec
from rdpbench.errors import BitstreamError, CodecError, ConfigError

TIMEOUT_S = 600
FFMPEG = ("ffmpeg", "apt-get install ffmpeg")
CHROMA = {"444": "yuv444p", "420": "yuv420p"}
SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int+bitexact"
MATRIX = "bt601"  # full range: Y, Cb, Cr all use 0..255 like JPEG


# A decoder given a corrupt stream may believe in a frame far larger than the header's image:
# its output file is capped at the size the header implies and its memory at a base plus this
# much per pixel, so it fails (a BitstreamError) instead of filling the disk or the RAM.
DECODER_MEMORY_BASE = 1 << 30
DECODER_MEMORY_PER_PIXEL = 64
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Limits:
    file_bytes: int  # RLIMIT_FSIZE: largest file the tool may write
    memory_bytes: int  # RLIMIT_AS


def decoder_limits(width: int, height: int, file_bytes: int) -> Limits:
    return Limits(file_bytes, DECODER_MEMORY_BASE + DECODER_MEMORY_PER_PIXEL * width * height)


def _in_child(limits: Limits | None):
    """preexec_fn: die with the worker that started the tool (Linux prctl), and apply `limits`."""
    def apply() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if limits is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    return apply


def run(cmd: list[str], who: str, error: type[CodecError] = CodecError, timeout: float = TIMEOUT_S,
        limits: Limits | None = None) -> None:
    try:
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                                preexec_fn=_in_child(limits))
    except subprocess.TimeoutExpired:
        raise error(f"{who}: `{cmd[0]}` did not finish within {timeout} s") from None
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        how = f"signal {signal.Signals(-result.returncode).name}" if result.returncode < 0 else f"exit {result.returncode}"
        raise error(f"{who}: `{' '.join(cmd)}` failed ({how}): {' | '.join(tail)}")


def yuv_frame_bytes(width: int, height: int, chroma: str) -> int:
    if chroma == "444":
        return 3 * width * height
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)


def rgb_to_yuv(image: np.ndarray, path: Path, chroma: str, who: str) -> None:
    height, width = image.shape[:2]
    source = path.with_suffix(".rgb")
    source.write_bytes(image.tobytes())
    run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
         "-i", str(source), "-vf", f"scale=out_color_matrix={MATRIX}:out_range=full:flags={SWS_FLAGS}",
         "-pix_fmt", CHROMA[chroma], "-f", "rawvideo", str(path)], who)


def yuv_to_rgb(path: Path, width: int, height: int, chroma: str, who: str) -> np.ndarray:
    size = path.stat().st_size if path.exists() else 0
    if size != yuv_frame_bytes(width, height, chroma):
        raise BitstreamError(f"{who}: decoder produced {size} bytes of {chroma} YUV, expected "
                             f"{yuv_frame_bytes(width, height, chroma)} for {width}x{height} (corrupt bitstream?)")
    target = path.with_suffix(".rgb")
    run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", CHROMA[chroma], "-s", f"{width}x{height}",
         "-i", str(path), "-vf", f"scale=in_color_matrix={MATRIX}:in_range=full:flags={SWS_FLAGS}",
         "-pix_fmt", "rgb24", "-f", "rawvideo", str(target)], who, BitstreamError,
        limits=decoder_limits(width, height, 3 * width * height))
    return np.frombuffer(target.read_bytes(), np.uint8).reshape(height, width, 3).copy()


class CommandLineCodec(Codec):
    """Shared pipeline: RGB -> YUV file -> encoder -> elementary stream; stream -> decoder -> YUV -> RGB.

    4:2:0 needs even sizes: odd images are edge-padded by one pixel and cropped after decoding
    (the decoder knows the original size from the rdpbench header).
    """

    binaries: ClassVar[tuple[tuple[str, str], ...]]  # (binary, how to install it); ffmpeg is added
    chroma_options: ClassVar[tuple[str, ...]] = ("444", "420")
    stream_suffix: ClassVar[str]
    default_preset: ClassVar[Any] = None

    def __init__(self, ops=None, chroma: str = "420", preset: str | int | None = None) -> None:
        if chroma not in self.chroma_options:
            raise ConfigError(f"codec {self.name!r}: chroma {chroma!r} not in {list(self.chroma_options)}")
        self.chroma, self.preset = chroma, preset if preset is not None else self.default_preset
        super().__init__(ops)

    def requirements(self) -> str:
        for binary, install in (*self.binaries, FFMPEG):
            if shutil.which(binary) is None:
                raise CodecError(f"codec {self.name!r}: `{binary}` not on PATH; {install}")
        return ""

    def coded_size(self, width: int, height: int) -> tuple[int, int]:
        if self.chroma == "420":
            return width + width % 2, height + height % 2
        return width, height

    def encode_command(self, yuv: Path, out: Path, width: int, height: int, op: OperatingPoint) -> list[str]:
        raise NotImplementedError

    def decode_command(self, stream: Path, yuv: Path, width: int, height: int) -> list[str]:
        raise NotImplementedError

    def unwrap(self, data: bytes) -> bytes:
        """Strip a container the encoder insists on writing; elementary streams pass through."""
        return data

    def encode_payload(self, image: np.ndarray, op: OperatingPoint) -> bytes:
        self.requirements()
        height, width = image.shape[:2]
        cw, ch = self.coded_size(width, height)
        padded = np.pad(image, ((0, ch - height), (0, cw - width), (0, 0)), mode="edge")
        with tempfile.TemporaryDirectory(prefix=f"rdpbench-{self.name}-") as tmp:
            yuv, out = Path(tmp) / "in.yuv", Path(tmp) / f"out{self.stream_suffix}"
            rgb_to_yuv(padded, yuv, self.chroma, f"codec {self.name!r}")
            run(self.encode_command(yuv, out, cw, ch, op), f"codec {self.name!r}")
            return self.unwrap(out.read_bytes())

    def decode_payload(self, payload: bytes, header: Header, op: OperatingPoint) -> np.ndarray:
        self.requirements()
        if not payload:
            raise BitstreamError("empty payload", self.name, "payload")
        cw, ch = self.coded_size(header.width, header.height)
        with tempfile.TemporaryDirectory(prefix=f"rdpbench-{self.name}-") as tmp:
            stream, yuv = Path(tmp) / f"in{self.stream_suffix}", Path(tmp) / "out.yuv"
            stream.write_bytes(payload)
            who = f"codec {self.name!r}, section 'payload'"
            run(self.decode_command(stream, yuv, cw, ch), who, BitstreamError,
                limits=decoder_limits(cw, ch, yuv_frame_bytes(cw, ch, self.chroma)))
            image = yuv_to_rgb(yuv, cw, ch, self.chroma, who)
        return np.ascontiguousarray(image[:header.height, :header.width])

    def config(self) -> dict[str, Any]:
        return {**super().config(), "chroma": self.chroma, "preset": self.preset, "matrix": f"{MATRIX} full range",
                "sws_flags": SWS_FLAGS, "bit_depth": 8}


def ffmpeg_decode(stream: Path, yuv: Path, demuxer: str, decoder: str, chroma: str) -> list[str]:
    """Decode to the stream's native planar format, so ffmpeg does no colour conversion of its own."""
    return ["ffmpeg", "-v", "error", "-y", "-threads", "1", "-f", demuxer, "-c:v", decoder, "-i", str(stream),
            "-frames:v", "1", "-pix_fmt", CHROMA[chroma], "-f", "rawvideo", str(yuv)]


def aomdec_command(stream: Path, yuv: Path) -> list[str]:
    """libaom's reference decoder reads bare OBUs and writes the native planar YUV."""
    return ["aomdec", "--rawvideo", "--threads=1", "--limit=1", "-o", str(yuv), str(stream)]


@register_codec
class X265(CommandLineCodec):
    """HEVC intra, one frame, fixed QP, like BPG (which also wraps x265); --tune psnr turns psy tools off."""

    name = "x265"
    codec_id = 10
    knobs = (Knob("qp", 0, 51, rate_increasing=False),)
    rate_knob = "qp"
    binaries = (("x265", "apt-get install x265"),)
    stream_suffix = ".hevc"
    default_preset = "slow"

    def encode_command(self, yuv: Path, out: Path, width: int, height: int, op: OperatingPoint) -> list[str]:
        # --no-info drops x265's version SEI (~2 kB of text that would dominate a 150-byte budget).
        return ["x265", "--input", str(yuv), "--input-res", f"{width}x{height}", "--input-csp", f"i{self.chroma}",
                "--input-depth", "8", "--output-depth", "8", "--fps", "1", "--frames", "1",
                "--preset", str(self.preset), "--tune", "psnr", "--qp", str(int(op["qp"])), "--keyint", "1",
                "--no-info", "--no-wpp", "--pools", "none", "--frame-threads", "1", "--no-progress",
                "--log-level", "error", "--output", str(out)]

    def decode_command(self, stream: Path, yuv: Path, width: int, height: int) -> list[str]:
        return ffmpeg_decode(stream, yuv, "hevc", "hevc", self.chroma)


@register_codec
class AomAV1(CommandLineCodec):
    """AV1 intra with libaom's aomenc in all-intra mode, constant quality; decoded by aomdec."""

    name = "aom-av1"
    codec_id = 11
    knobs = (Knob("cq_level", 0, 63, rate_increasing=False),)
    rate_knob = "cq_level"
    binaries = (("aomenc", "apt-get install aom-tools"), ("aomdec", "apt-get install aom-tools"))
    stream_suffix = ".obu"
    default_preset = 4  # --cpu-used

    def encode_command(self, yuv: Path, out: Path, width: int, height: int, op: OperatingPoint) -> list[str]:
        return ["aomenc", "--allintra", "--limit=1", "--end-usage=q", f"--cq-level={int(op['cq_level'])}",
                f"--cpu-used={self.preset}", "--threads=1", "--row-mt=0", "--obu", f"--i{self.chroma}",
                "--input-bit-depth=8", "--bit-depth=8", f"--width={width}", f"--height={height}",
                "--fps=1/1", "--quiet", "-o", str(out), str(yuv)]

    def decode_command(self, stream: Path, yuv: Path, width: int, height: int) -> list[str]:
        return aomdec_command(stream, yuv)


IVF_HEADER, IVF_FRAME_HEADER = 32, 12


def ivf_frames(data: bytes) -> bytes:
    """Concatenate the frame payloads of an IVF file (a fixed 32-byte header, then 12-byte frame headers).

    Hand-written: the format is two fixed-size structs, and SvtAv1EncApp has no option to
    write bare OBUs; stripping it keeps container bytes out of bpp for every AV1 encoder.
    """
    if data[:4] != b"DKIF":
        raise CodecError(f"SvtAv1EncApp output is not IVF (starts {data[:4]!r})")
    pos, frames = IVF_HEADER, []
    while pos + IVF_FRAME_HEADER <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        pos += IVF_FRAME_HEADER
        frames.append(data[pos:pos + size])
        pos += size
    return b"".join(frames)


@register_codec
class SvtAV1(CommandLineCodec):
    """AV1 intra with SVT-AV1 in CRF mode; 4:2:0 only (SVT-AV1 1.x main profile).

    CRF rather than fixed QP (--aq-mode 0): SVT-AV1 1.4 then lowers the key frame's QP so far
    that qp 50 cost 4x the bytes of crf 50 on kodim01.
    """

    name = "svt-av1"
    codec_id = 12
    knobs = (Knob("crf", 1, 63, rate_increasing=False),)
    rate_knob = "crf"
    binaries = (("SvtAv1EncApp", "apt-get install svt-av1"), ("aomdec", "apt-get install aom-tools"))
    chroma_options = ("420",)
    stream_suffix = ".obu"
    default_preset = 4

    def encode_command(self, yuv: Path, out: Path, width: int, height: int, op: OperatingPoint) -> list[str]:
        return ["SvtAv1EncApp", "-i", str(yuv), "-w", str(width), "-h", str(height), "--input-depth", "8",
                "--color-format", "1", "-n", "1", "--preset", str(self.preset), "--rc", "0",
                "--crf", str(int(op["crf"])), "--lp", "1", "--keyint", "-1", "--tune", "1", "--progress", "0",
                "-b", str(out)]

    def unwrap(self, data: bytes) -> bytes:
        return ivf_frames(data)

    def decode_command(self, stream: Path, yuv: Path, width: int, height: int) -> list[str]:
        return aomdec_command(stream, yuv)


VVC_HINT = ("not packaged in Debian 12 (bookworm); build https://github.com/fraunhoferhhi/{tool} "
            "(cmake --build; make install) or use Debian 13+ packages")


@register_codec
class VVenC(CommandLineCodec):
    """VVC intra with Fraunhofer vvenc (vvencapp) at a fixed QP, decoded by vvdecapp (untested: not installed here)."""

    name = "vvenc"
    codec_id = 13
    knobs = (Knob("qp", 0, 63, rate_increasing=False),)
    rate_knob = "qp"
    binaries = (("vvencapp", VVC_HINT.format(tool="vvenc")), ("vvdecapp", VVC_HINT.format(tool="vvdec")))
    stream_suffix = ".266"
    default_preset = "medium"

    def encode_command(self, yuv: Path, out: Path, width: int, height: int, op: OperatingPoint) -> list[str]:
        return ["vvencapp", "-i", str(yuv), "-s", f"{width}x{height}", "-c", f"yuv{self.chroma}", "-r", "1",
                "-f", "1", "--preset", str(self.preset), "--qp", str(int(op["qp"])), "--threads", "1",
                "--internal-bitdepth", "8", "-o", str(out)]

    def decode_command(self, stream: Path, yuv: Path, width: int, height: int) -> list[str]:
        return ["vvdecapp", "-b", str(stream), "-o", str(yuv), "-t", "1"]
