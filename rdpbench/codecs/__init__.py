"""Codec adapters. Importing this package registers the built-in ones (weight-free, torch-free)."""

from rdpbench.codecs import heif, imagecodecs_codecs, pillow_codecs  # noqa: F401  (registration)
from rdpbench.codecs.base import Codec, Knob, OperatingPoint, op_label
from rdpbench.codecs.registry import available_codecs, codec_class, codec_class_by_id, register_codec

__all__ = ["Codec", "Knob", "OperatingPoint", "op_label", "available_codecs", "codec_class",
           "codec_class_by_id", "register_codec"]
