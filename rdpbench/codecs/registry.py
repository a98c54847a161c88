"""Codec classes by header id, like CompressAI's zoo.

Hydra configs name classes with `_target_`; the registry exists for what a config cannot do:
map a header's codec id back to a class (a composite decoder names the codec that made a
sub-stream it was not configured for), and keep ids unique forever.
"""

from __future__ import annotations

from typing import TypeVar

from rdpbench.errors import ConfigError

_BY_NAME: dict[str, type] = {}
_BY_ID: dict[int, type] = {}

C = TypeVar("C", bound=type)


def register_codec(cls: C) -> C:
    name, codec_id = cls.name, cls.codec_id
    for table, key in ((_BY_NAME, name), (_BY_ID, codec_id)):
        if key in table and table[key] is not cls:
            raise RuntimeError(f"codec {key!r} registered twice ({table[key].__name__}, {cls.__name__})")
    _BY_NAME[name] = cls
    _BY_ID[codec_id] = cls
    return cls


def codec_class_by_id(codec_id: int) -> type:
    try:
        return _BY_ID[codec_id]
    except KeyError:
        raise ConfigError(f"no codec with header id {codec_id}; known ids: {sorted(_BY_ID)}") from None
