"""rdpbench: rate-distortion-perception benchmark for ultra-low-bitrate image codecs."""

__version__ = "0.1.0"
