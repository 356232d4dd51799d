"""The rcc container (rcc.container.pack / unpack) and rcc.Message.

Round trips are property-based; any truncation, bit flip, wrong magic or version, unknown method
or random bytes must raise rcc.DecodeError and nothing else (no IndexError, no struct errors, no
silent success).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rcc
from rcc import DecodeError
from rcc.coding import encode_varint
from rcc.container import DEFAULT_MAX_ELEMENTS, FORMAT_VERSION, MAGIC, METHODS, Payload, pack, unpack

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

Q, P, SEED = rcc.Gaussian([1.0, -0.5, 0.25], 0.5), rcc.Gaussian(0.0, 1.0), 1234


@pytest.fixture(scope="module")
def real_blob() -> bytes:
    """A real PFR blob (3-D Gaussian pair): header, a few payload bytes, CRC."""
    return rcc.PFR().encode(Q, P, seed=SEED).to_bytes()


def _with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


@st.composite
def containers(draw):
    payload_bits = draw(st.integers(min_value=0, max_value=200))
    payload_value = draw(st.integers(min_value=0, max_value=2**payload_bits - 1))
    pad = -payload_bits % 8
    payload = (payload_value << pad).to_bytes((payload_bits + pad) // 8, "big")
    ndim = draw(st.integers(min_value=0, max_value=4))
    shape = tuple(draw(st.lists(st.integers(min_value=0, max_value=1000), min_size=ndim, max_size=ndim)))
    if int(np.prod(shape, dtype=object)) > DEFAULT_MAX_ELEMENTS:
        shape = shape[:2]
    return Payload(
        method=draw(st.sampled_from(sorted(METHODS))),
        params=tuple(draw(st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=6))),
        seed=draw(st.integers(min_value=0, max_value=2**64 - 1)),
        shape=shape,
        data=payload,
        num_bits=payload_bits,
    )


@PROPERTY
@given(c=containers())
def test_pack_unpack_round_trip(c):
    """unpack(pack(c)) == c for every method, parameter list, seed in [0, 2**64), shape (also
    0-d and empty) and payload length; the blob starts with magic and version and ends with the
    CRC-32 of everything before it; bytearray and memoryview are accepted too."""
    blob = pack(c)
    assert blob[:3] == MAGIC and blob[3] == FORMAT_VERSION
    assert int.from_bytes(blob[-4:], "little") == zlib.crc32(blob[:-4])
    assert unpack(blob) == c
    assert unpack(bytearray(blob)) == c
    assert unpack(memoryview(blob)) == c
    assert unpack(blob, expect_method=c.method) == c


def test_pack_rejects_inconsistent_containers():
    """pack validates: unknown method, payload length not ceil(bits / 8), values beyond 64 bits."""
    good = dict(method="pfr", params=(2, 0), seed=1, shape=(3,), data=b"\x80", num_bits=1)
    for change in ({"method": "zip"}, {"num_bits": 9}, {"data": b""}, {"seed": 2**64}, {"params": (-1,)}):
        with pytest.raises(ValueError):
            pack(Payload(**{**good, **change}))


def test_every_truncation_is_decode_error(real_blob):
    """Every proper prefix of a real blob (and the blob with its last byte dropped or a byte
    appended) raises DecodeError from unpack and from PFR.decode."""
    for cut in range(len(real_blob)):
        with pytest.raises(DecodeError):
            unpack(real_blob[:cut], prior=P)
        with pytest.raises(DecodeError):
            rcc.PFR().decode(real_blob[:cut], P)
    with pytest.raises(DecodeError):
        unpack(real_blob + b"\x00", prior=P)


def test_every_single_bit_flip_is_decode_error(real_blob):
    """CRC-32 detects every single-bit error: flipping any one bit of the blob is DecodeError."""
    for bit in range(8 * len(real_blob)):
        flipped = bytearray(real_blob)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(DecodeError):
            unpack(bytes(flipped), prior=P)


@PROPERTY
@given(data=st.data())
def test_random_bit_flips_are_decode_errors(real_blob, data):
    """Any non-empty set of flipped bits makes unpack and PFR.decode raise DecodeError."""
    nbits = 8 * len(real_blob)
    flips = data.draw(st.sets(st.integers(min_value=0, max_value=nbits - 1), min_size=1, max_size=16))
    corrupted = bytearray(real_blob)
    for bit in flips:
        corrupted[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(DecodeError):
        unpack(bytes(corrupted), prior=P)
    with pytest.raises(DecodeError):
        rcc.PFR().decode(bytes(corrupted), P, seed=SEED)


@PROPERTY
@given(blob=st.binary(max_size=64))
def test_random_bytes_are_decode_errors(blob):
    """Arbitrary bytes are DecodeError (no magic or no valid CRC), with or without the magic."""
    with pytest.raises(DecodeError):
        unpack(blob)
    with pytest.raises(DecodeError):
        unpack(MAGIC + bytes([FORMAT_VERSION]) + blob)


@PROPERTY
@given(rest=st.binary(max_size=48), method=st.integers(min_value=0, max_value=255))
def test_parser_on_random_body_with_valid_crc(rest, method):
    """Past the checksum the parser meets adversarial headers: with magic, version and a valid
    CRC around random fields it returns a consistent Payload or raises DecodeError -- nothing
    else."""
    blob = _with_crc(MAGIC + bytes([FORMAT_VERSION, method]) + rest)
    try:
        c = unpack(blob)
    except DecodeError:
        return
    assert c.method in METHODS and METHODS[c.method] == method
    assert len(c.data) == (c.num_bits + 7) // 8
    assert 0 <= c.seed < 2**64
    assert pack(c) == blob


def test_wrong_magic_is_decode_error(real_blob):
    """Other magic bytes (even with a recomputed CRC) are 'not an rcc bitstream'."""
    body = b"RCX" + real_blob[3:-4]
    with pytest.raises(DecodeError, match="magic"):
        unpack(_with_crc(body))


@pytest.mark.parametrize("version", [0, FORMAT_VERSION + 1, 255])
def test_wrong_version_is_decode_error(real_blob, version):
    """Another format version (CRC recomputed, so the version check is what fails) is refused."""
    body = real_blob[:3] + bytes([version]) + real_blob[4:-4]
    with pytest.raises(DecodeError, match="version"):
        unpack(_with_crc(body))


@pytest.mark.parametrize("code", [0, 7, 15, 17, 255])  # 6 is uq_stream
def test_unknown_method_is_decode_error(real_blob, code):
    """A method byte that names no method (CRC recomputed) is refused."""
    body = real_blob[:4] + bytes([code]) + real_blob[5:-4]
    with pytest.raises(DecodeError, match="unknown method"):
        unpack(_with_crc(body))


def test_expected_method_mismatch_is_decode_error(real_blob):
    """A PFR blob handed to another channel's decoder says which method it holds."""
    with pytest.raises(DecodeError, match="'pfr'"):
        unpack(real_blob, expect_method="orc")


@pytest.mark.parametrize("blob", ["RCC", None, 12345, [82, 67, 67]])
def test_non_bytes_are_decode_errors(blob):
    """Only bytes-like input is a blob."""
    with pytest.raises(DecodeError, match="bytes"):
        unpack(blob)


@pytest.mark.parametrize(
    "field, value, match",
    [("params", tuple(range(65)), "parameters"), ("shape", (1,) * 33, "ndim"),
     ("shape", (2**21, 2**20), "max_elements")],
)
def test_header_limits_are_decode_errors(field, value, match):
    """Headers beyond the format's limits (more than 64 parameters, more than 32 dimensions, more
    than max_elements elements) are refused by unpack (a blob crafted byte by byte); a Payload
    refuses the first two on construction, and rcc.decode refuses the third."""
    fields = {"params": (2, 0), "shape": (3,), field: value}
    body = bytearray(MAGIC + bytes([FORMAT_VERSION, METHODS["pfr"]]))
    body += encode_varint(len(fields["params"])) + b"".join(encode_varint(v) for v in fields["params"])
    body += encode_varint(1) + encode_varint(len(fields["shape"])) + b"".join(encode_varint(n) for n in fields["shape"])
    body += encode_varint(1) + b"\x80"
    with pytest.raises(DecodeError, match=match):
        unpack(_with_crc(bytes(body)))
    if match == "max_elements":
        with pytest.raises(DecodeError, match=match):
            rcc.decode(Payload("pfr", (2, 0), 1, value, b"\x80", 1), P)
    else:
        with pytest.raises(DecodeError, match=field):
            Payload("pfr", fields["params"], 1, fields["shape"], b"\x80", 1)


def test_payload_length_mismatch_is_decode_error():
    """A header announcing more (or fewer) payload bits than the bytes hold is refused."""
    body = MAGIC + bytes([FORMAT_VERSION, METHODS["pfr"], 0, 1, 0]) + bytes([17]) + b"\x00"  # 17 bits, 1 byte
    with pytest.raises(DecodeError, match="payload"):
        unpack(_with_crc(body))


def test_message_fields_and_sizes(real_blob):
    """Message.to_bytes() packs method, params, seed, the sample's shape and the payload;
    num_bits is the payload length, total_bits the blob's and overhead_bits their difference."""
    msg = rcc.PFR().encode(Q, P, seed=SEED)
    assert msg.to_bytes() == real_blob
    c = unpack(real_blob, prior=P)
    assert (c.method, c.params, c.seed, c.shape) == ("pfr", msg.params, SEED, (3,))
    assert (c.data, c.num_bits) == (msg.payload, msg.num_bits)
    assert c == msg.headerless()
    assert msg.total_bits == 8 * len(real_blob)
    assert msg.overhead_bits == msg.total_bits - msg.num_bits > 0
    assert "num_bits" in repr(msg) and isinstance(msg.sample, np.ndarray)
