"""Exception types shared by every stage, so callers can tell a bad input from a bug."""


class RdpbenchError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ImageLoadError(RdpbenchError):
    """An input image cannot be read or converted to 8-bit RGB."""


class CodecError(RdpbenchError):
    """A codec adapter failed; the message names the codec."""


class BitstreamError(CodecError):
    """A bitstream is corrupt, truncated or belongs to another codec."""


class ConfigError(RdpbenchError):
    """A configuration value (codec, operating point, dataset, metric) is invalid."""


class DatasetError(RdpbenchError):
    """A dataset is missing, incomplete or fails its checksum."""


class WeightsError(RdpbenchError):
    """Model weights are missing or invalid; the message says where to put them."""


class MetricUnavailable(RdpbenchError):
    """A metric cannot be computed here (missing weights or package); the column stays empty."""
