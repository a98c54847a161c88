"""Readable names and colour families for curves in plots and tables.

Result rows and published files name codecs by ids (`resample_avif`, `bpg_444_x265_ycbcr`,
`compressai-mbt2018_mse_cuda`); legends show what they are. A family groups every curve of
one coding standard or system (measured or published, plain or resampled), so a codec's
measured and published curves share a hue.
"""

from __future__ import annotations

import re

# id -> display name, for ids whose readable form is not derivable from the id itself
DISPLAY = {
    "jpeg": "JPEG", "jpeg444": "JPEG 4:4:4", "jpeg_compressai": "JPEG (CompressAI bench recipe)", "webp": "WebP",
    "avif": "AVIF", "jpegxl": "JPEG XL", "jpeg2000": "JPEG 2000", "heif": "HEIF (x265)", "x265": "HEVC (x265)",
    "x265_444": "HEVC 4:4:4 (x265)", "aom": "AV1 (aomenc)", "aom_420": "AV1 4:2:0 (aomenc)", "svtav1": "AV1 (SVT-AV1)",
    "vvenc": "VVC (VVenC)", "ultralow": "ultralow (rdpbench MSH)", "msillm": "MS-ILLM", "diffc": "DiffC",
    "diffc_gaussian": "DiffC (Gaussian denoiser)", "bpg_444_x265_ycbcr": "BPG 4:4:4 (x265)", "vtm": "VTM", "hm": "HM",
    "av1": "AV1 (aomenc)",
}
# (family, pattern on the lower-cased id): first match wins, so VVC/HEVC/AV1 come before plain JPEG
FAMILIES = (
    ("vvc", r"vtm|vvc|vvenc"), ("hevc", r"bpg|x265|hevc|heif|^hm\b"), ("av1", r"av1|avif|aom"),
    ("jpegxl", r"jpegxl|jxl|jpeg xl"), ("jpeg2000", r"jpeg ?2000|j2k"), ("jpeg", r"jpeg"), ("webp", r"webp"),
    ("msillm", r"ms-?illm|no-gan"), ("compressai", r"compressai|bmshj|mbt2018|cheng2020|elic|minnen"),
    ("diffc", r"diffc"), ("stablecodec", r"stablecodec"), ("diffeic", r"diffeic"), ("perco", r"perco"),
    ("hific", r"hific"), ("rdeic", r"rdeic"), ("ultralow", r"ultralow"),
)
_SUFFIX = re.compile(r"\s*(\[[^\]]*\]|\([^)]*\))\s*$")
_ZOO = re.compile(r"^compressai[-_](?P<arch>.+?)(?:_(?P<metric>mse|ms-ssim))?(?:_(?:cuda|cpu|ans_cuda))?$")
_PAPER = re.compile(r"^paper-(?P<arch>.+?)(?:_(?P<metric>mse|ms-ssim))?$")


def _base(name: str) -> tuple[str, str]:
    """(id, trailing " [..]" / " (..)" qualifiers) of a curve label."""
    suffix = ""
    while match := _SUFFIX.search(name):
        suffix = match.group(0) + suffix
        name = name[:match.start()]
    return name, suffix


def display_name(name: str) -> str:
    """`resample_avif` -> `AVIF (resampled)`, `compressai-mbt2018_mse_cuda` -> `CompressAI mbt2018 (MSE)`;
    qualifiers such as a config-hash suffix `[1a2b3c4d]` are kept; unknown ids are returned as they are."""
    base, suffix = _base(name)
    if base in DISPLAY:
        return DISPLAY[base] + suffix
    if base.startswith("resample_"):
        return f"{display_name(base.removeprefix('resample_'))} (resampled){suffix}"
    for pattern, template in ((_ZOO, "CompressAI {arch}{metric}"), (_PAPER, "{arch}{metric}, paper")):
        if match := pattern.match(base):
            metric = f" ({match['metric'].upper()})" if match["metric"] else ""
            return template.format(arch=match["arch"].replace("_", "-"), metric=metric) + suffix
    return base + suffix


def family(name: str) -> str:
    """The colour family of a curve label (measured or published)."""
    base = _base(name)[0].lower()
    for key, pattern in FAMILIES:
        if re.search(pattern, base):
            return key
    return base
