"""Reverse channel coding: send a sample of N(m, I) with shared randomness (independent of diffusion)."""

from rdpbench.rcc.backends import NumpyRCC, RCCBackend, backend_for
from rdpbench.rcc.chunked import ChunkPlan, RCCSettings, decode_sample, encode_sample
from rdpbench.rcc.container import RCCContainer, RCCPayload, TileSteps
from rdpbench.rcc.index_coding import decode_indices, encode_indices
from rdpbench.rcc.kl_quant import dequantise_kl, quantise_kl

__all__ = ["ChunkPlan", "RCCSettings", "decode_sample", "encode_sample", "RCCContainer", "RCCPayload", "TileSteps",
           "decode_indices", "encode_indices", "dequantise_kl", "quantise_kl", "NumpyRCC", "RCCBackend", "backend_for"]
