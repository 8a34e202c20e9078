"""WeCom callback crypto, pinned by the documentation's vectors and WeCom's 32-byte PKCS#7."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wecom_crypto import MalformedError, SignatureError, UnsafeXmlError, WeComCrypto, parse_xml
from tests.wecom.conftest import AES_KEY, CORP_ID, TOKEN, VECTORS

URL = VECTORS["url_verification"]
MSG = VECTORS["message"]


def envelope(encrypt: str) -> bytes:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{MSG['agent_id']}]]></AgentID></xml>").encode()


def test_documentation_url_vector_answers_the_echostr(crypto):
    assert crypto.check_url(URL["msg_signature"], URL["timestamp"], URL["nonce"], URL["echostr"]) == URL["answer"]


def test_documentation_url_vector_over_http(client, clock):
    # The vector is from 2014: move the clock there so the freshness check accepts it.
    clock.now = datetime.fromtimestamp(int(URL["timestamp"]), UTC)
    query = urlencode({k: URL[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})
    resp = client.get(f"/wecom/callback?{query}")
    assert resp.status_code == 200
    assert resp.data == b"1616140317555161061"  # the plaintext alone: no quotes, no newline


def test_url_vector_with_a_raw_plus_is_refused(client, clock):
    """A hand-written query with a literal '+' arrives as a space: the signature no longer matches."""
    clock.now = datetime.fromtimestamp(int(URL["timestamp"]), UTC)
    raw = "&".join(f"{k}={URL[k]}" for k in ("msg_signature", "timestamp", "nonce", "echostr"))
    assert client.get(f"/wecom/callback?{raw}").status_code == 403


def test_documentation_message_vector_decrypts_to_hello(crypto):
    fields = crypto.open_envelope(envelope(MSG["encrypt"]), MSG["msg_signature"], MSG["timestamp"], MSG["nonce"])
    assert fields["FromUserName"] == "mycreate"
    assert fields["Content"] == "hello"
    assert fields["MsgId"] == "4561255354251345929"
    assert fields["AgentID"] == "218"


def test_message_vector_pads_to_32_bytes_not_16(crypto):
    key = base64.b64decode(AES_KEY + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(MSG["encrypt"])) + decryptor.finalize()
    assert plain[-1] == 30  # more than 16: a 16-byte unpadder would reject this valid message
    assert crypto.decrypt(MSG["encrypt"]).startswith(b"<xml>")


def test_agrees_with_wechatpy_on_the_vector():
    from wechatpy.enterprise.crypto import WeChatCrypto

    theirs = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        envelope(MSG["encrypt"]).decode(), MSG["msg_signature"], MSG["timestamp"], MSG["nonce"])
    assert WeComCrypto(TOKEN, AES_KEY, CORP_ID).decrypt(MSG["encrypt"]).decode() == theirs


@pytest.mark.parametrize("size", [0, 1, 11, 12, 43, 44, 1000])
def test_round_trip_at_every_padding_length(crypto, size):
    message = b"x" * size
    assert crypto.decrypt(crypto.encrypt(message)) == message


def test_wrong_signature_and_missing_signature(crypto):
    body = envelope(MSG["encrypt"])
    with pytest.raises(SignatureError):
        crypto.open_envelope(body, "0" * 40, MSG["timestamp"], MSG["nonce"])
    with pytest.raises(SignatureError):
        crypto.open_envelope(body, None, MSG["timestamp"], MSG["nonce"])


def test_message_for_another_corp_is_refused():
    theirs = WeComCrypto(TOKEN, AES_KEY, "wwsomeoneelse")
    with pytest.raises(SignatureError, match="receiver"):
        WeComCrypto(TOKEN, AES_KEY, CORP_ID).decrypt(theirs.encrypt(b"<xml/>"))


def _raw_encrypt(plain: bytes) -> str:
    key = base64.b64decode(AES_KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


@pytest.mark.parametrize("tail", [bytes([0]), bytes([33]), bytes([7] * 3 + [4])])
def test_bad_padding_is_malformed(crypto, tail):
    """wechatpy trusts the last byte; here a zero, too large or inconsistent padding is refused."""
    body = b"0" * 16 + struct.pack(">I", 5) + b"<xml>" + CORP_ID.encode()
    plain = body + b"\x01" * (32 - (len(body) + len(tail)) % 32) + tail
    with pytest.raises(MalformedError):
        crypto.decrypt(_raw_encrypt(plain))


def test_length_past_the_end_is_malformed(crypto):
    body = b"0" * 16 + struct.pack(">I", 500) + b"<xml/>" + CORP_ID.encode()
    pad = 32 - len(body) % 32
    with pytest.raises(MalformedError, match="length"):
        crypto.decrypt(_raw_encrypt(body + bytes([pad]) * pad))


@pytest.mark.parametrize("value", ["not base64!", "", "QUJD"])
def test_garbage_encrypt_is_malformed(crypto, value):
    with pytest.raises(MalformedError):
        crypto.decrypt(value)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<xml><Encrypt>&lol2;</Encrypt></xml>"""
EXTERNAL = b"""<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, EXTERNAL, b"<!doctype xml><xml/>", b"  <!ENTITY x 'y'><xml/>"])
def test_doctype_and_entities_are_refused_before_parsing(doc):
    with pytest.raises(UnsafeXmlError):
        parse_xml(doc)


def test_cdata_that_mentions_doctype_is_just_text():
    assert parse_xml(b"<xml><Content><![CDATA[<!DOCTYPE html> & <!ENTITY>]]></Content></xml>") == {
        "Content": "<!DOCTYPE html> & <!ENTITY>"}


def test_nested_and_repeated_elements():
    doc = (b"<xml><Event>template_card_event</Event><SelectedItems><SelectedItem><QuestionKey>a</QuestionKey>"
           b"</SelectedItem><SelectedItem><QuestionKey>b</QuestionKey></SelectedItem></SelectedItems></xml>")
    fields = parse_xml(doc)
    assert fields["SelectedItems"]["SelectedItem"] == [{"QuestionKey": "a"}, {"QuestionKey": "b"}]


@pytest.mark.parametrize("doc", [b"", b"hello", b"<xml><a></xml>", b"{\"json\": 1}", b"<xml>" * 50])
def test_not_xml_is_malformed(doc):
    with pytest.raises(MalformedError):
        parse_xml(doc)
