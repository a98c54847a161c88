"""Exception types shared by every stage, so callers can tell a bad input from a bug."""

from __future__ import annotations


class RdpbenchError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ImageLoadError(RdpbenchError):
    """An input image cannot be read or converted to 8-bit RGB."""


class CodecError(RdpbenchError):
    """A codec adapter failed; the message names the codec."""


class BitstreamError(CodecError):
    """A bitstream is corrupt, truncated or belongs to another codec.

    `codec` and `section` (header, lengths, y, z, check, payload...) name where decoding failed;
    they are written at the front of the message, so every caller sees them.
    """

    def __init__(self, message: str, codec: str | None = None, section: str | None = None) -> None:
        self.codec, self.section, self.detail = codec, section, message
        where = ", ".join(part for part in (codec and f"codec {codec!r}", section and f"section {section!r}") if part)
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):  # keep the fields across processes (worker pools pickle exceptions)
        return type(self), (self.detail, self.codec, self.section)

    def named(self, codec: str, section: str | None = None) -> "BitstreamError":
        """This error with the codec (and section) filled in where the raiser could not know them."""
        if self.codec is not None or f"codec {codec!r}" in self.detail:
            return self
        return BitstreamError(self.detail, codec, self.section or section)


class ConfigError(RdpbenchError):
    """A configuration value (codec, operating point, dataset, metric) is invalid."""


class DatasetError(RdpbenchError):
    """A dataset is missing, incomplete or fails its checksum."""


class WeightsError(RdpbenchError):
    """Model weights are missing or invalid; the message says where to put them."""


class MetricUnavailable(RdpbenchError):
    """A metric cannot be computed here (missing weights or package); the column stays empty."""


class StoreError(RdpbenchError):
    """A file in the results store was changed or lost after its row was written."""
