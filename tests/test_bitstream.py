import pytest
from hypothesis import given
from hypothesis import strategies as st

from rdpbench.bitstream import Header, read_varint, write_varint
from rdpbench.errors import BitstreamError


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varint_round_trip(value):
    data = write_varint(value) + b"tail"
    decoded, pos = read_varint(data, 0)
    assert decoded == value
    assert data[pos:] == b"tail"


def test_varint_sizes_are_compact():
    assert len(write_varint(127)) == 1
    assert len(write_varint(128)) == 2
    assert len(write_varint(768)) == 2


@given(st.integers(1, 500), st.integers(1, 1 << 20), st.integers(1, 1 << 20), st.lists(st.integers(0, 10**6), max_size=4))
def test_header_round_trip(codec_id, width, height, ops):
    header = Header(codec_id, width, height, tuple(ops))
    packed = header.pack()
    parsed, size = Header.unpack(packed + b"payload", len(ops))
    assert parsed == header
    assert size == len(packed)


def test_header_is_small_for_kodak():
    assert len(Header(1, 768, 512, (30,)).pack()) == 7


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x00\x01\x02", "not an rdpbench bitstream"),
    (bytes([0xB0 | 7]) + b"\x01\x01\x01", "version"),
    (bytes([0xB1]) + b"\x01\x80", "truncated"),
    (bytes([0xB1, 1, 0, 5]), "image size"),
])
def test_header_rejects_corruption(data, message):
    with pytest.raises(BitstreamError, match=message):
        Header.unpack(data, 0)


def test_every_header_error_names_the_codec_and_section():
    from rdpbench.codecs.pillow_codecs import JPEG
    from rdpbench.errors import BitstreamError

    for stream, detail in ((b"", "empty bitstream"), (b"\x00\x01", "not an rdpbench bitstream"),
                           (b"\xb1\x01\x80", "truncated inside a varint")):
        with pytest.raises(BitstreamError) as info:
            JPEG().decode(stream)
        assert str(info.value).startswith("codec 'jpeg', section 'header': ") and detail in str(info.value)
        assert (info.value.codec, info.value.section) == ("jpeg", "header")
