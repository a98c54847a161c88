"""Codec adapters. Importing this package registers every adapter; none imports torch until used."""

from rdpbench.codecs import (compressai_zoo, diffc, external, hdcompression, heif, imagecodecs_codecs,  # noqa: F401
                             msillm, pillow_codecs, sprdiff, trained)
from rdpbench.codecs.base import Codec, Knob, OperatingPoint, op_label
from rdpbench.codecs.registry import codec_class_by_id, register_codec

__all__ = ["Codec", "Knob", "OperatingPoint", "op_label", "codec_class_by_id", "register_codec"]
