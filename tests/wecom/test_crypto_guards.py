"""The edges of the WeCom envelope checks, each sent as a forger would craft it: padding of exactly 1
and 32, a length field that is negative as a signed int or leaves no room for the CorpID, a payload
of exactly the minimum size, non-base64 characters, XML nested one level too deep or cut short."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wecom_crypto import BLOCK, MAX_DEPTH, MalformedError, SignatureError, WeComCrypto, parse_xml
from tests.wecom.conftest import AES_KEY, CORP_ID

HEADER = b"r" * 16  # the 16 random bytes


def raw_encrypt(plain: bytes) -> str:
    """AES-CBC exactly as WeCom keys it, over a plaintext we build byte by byte."""
    key = base64.b64decode(AES_KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def padded(body: bytes) -> bytes:
    pad = BLOCK - len(body) % BLOCK
    return body + bytes([pad]) * pad


@pytest.mark.parametrize("pad", [1, 2, BLOCK])
def test_padding_of_one_and_of_a_whole_block_is_accepted(crypto: WeComCrypto, pad: int) -> None:
    fixed = len(HEADER) + 4 + len(CORP_ID)
    size = (BLOCK - pad - fixed) % BLOCK + BLOCK
    message = b"m" * size
    token = crypto.encrypt(message)
    assert (len(HEADER) + 4 + size + len(CORP_ID) + pad) % BLOCK == 0
    assert crypto.decrypt(token) == message


def test_a_length_field_with_the_high_bit_set_is_malformed(crypto: WeComCrypto) -> None:
    """0xFFFFFFFF is 4 GiB unsigned (past the end), -1 if read as signed (which would slice oddly)."""
    plain = padded(HEADER + struct.pack(">I", 0xFFFFFFFF) + b"<xml/>" + CORP_ID.encode())
    with pytest.raises(MalformedError, match="length"):
        crypto.decrypt(raw_encrypt(plain))


def test_a_length_that_leaves_no_room_for_the_corpid_is_another_receiver(crypto: WeComCrypto) -> None:
    message = b"<xml>" + CORP_ID.encode()  # the CorpID hidden inside the message itself
    plain = padded(HEADER + struct.pack(">I", len(message)) + message)
    with pytest.raises(SignatureError, match="another receiver"):
        crypto.decrypt(raw_encrypt(plain))


def test_the_shortest_payload_is_checked_for_its_receiver(crypto: WeComCrypto) -> None:
    """16 random bytes and a zero length: no message, no CorpID — a wrong receiver, not a crash."""
    plain = padded(HEADER + struct.pack(">I", 0))
    with pytest.raises(SignatureError, match="another receiver"):
        crypto.decrypt(raw_encrypt(plain))
    empty = WeComCrypto("token", AES_KEY, "")
    assert empty.decrypt(raw_encrypt(plain)) == b""  # exactly 20 bytes is long enough
    with pytest.raises(MalformedError, match="too short"):
        crypto.decrypt(raw_encrypt(padded(HEADER + b"\0\0\0")))


@pytest.mark.parametrize("junk", ["*", " ", "\n", "%"])
def test_encrypt_with_characters_outside_base64_is_malformed(crypto: WeComCrypto, junk: str) -> None:
    token = crypto.encrypt(b"<xml><MsgType>text</MsgType></xml>")
    assert crypto.decrypt(token)
    with pytest.raises(MalformedError, match="base64"):
        crypto.decrypt(token[:8] + junk + token[8:])


def _nested(depth: int) -> bytes:
    return b"".join(b"<e%d>" % i for i in range(depth)) + b"x" + b"".join(b"</e%d>" % i for i in reversed(range(depth)))


def test_xml_nested_exactly_max_depth_parses_one_more_is_refused() -> None:
    assert parse_xml(_nested(MAX_DEPTH))
    with pytest.raises(MalformedError, match="deeply"):
        parse_xml(_nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("tail", [b"<", b"<x", b"<!--"])
def test_xml_with_an_unfinished_tail_after_the_root_is_malformed(tail: bytes) -> None:
    assert parse_xml(b"<xml><a>1</a></xml>") == {"a": "1"}
    with pytest.raises(MalformedError):
        parse_xml(b"<xml><a>1</a></xml>" + tail)
