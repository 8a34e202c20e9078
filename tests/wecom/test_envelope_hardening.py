"""The WeCom envelope is read before its signature can be checked: that read must stay cheap and strict."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from bot.wecom_crypto import MalformedError, parse_xml
from tests.wecom.conftest import CORP_ID, text_xml

REPEATED_TAGS = b"<xml>" + b"<a/>" * 262_000 + b"</xml>"  # 1 MiB


def _forged(client, clock, body: bytes):
    query = urlencode({"msg_signature": "a" * 40, "timestamp": str(int(clock().timestamp())), "nonce": "1"})
    return client.post(f"/wecom/callback?{query}", data=body, content_type="text/xml")


def test_a_mebibyte_of_repeated_tags_with_a_forged_signature_is_refused_in_milliseconds(client, clock):
    assert len(REPEATED_TAGS) <= 1024 * 1024
    best = float("inf")
    for _ in range(3):  # best of three: the machine is shared
        started = time.perf_counter()
        assert _forged(client, clock, REPEATED_TAGS).status_code == 400
        best = min(best, time.perf_counter() - started)
    assert best < 0.1


def test_repeated_tags_inside_the_signed_message_are_linear(crypto):
    started = time.perf_counter()
    assert len(parse_xml(b"<xml>" + b"<a/>" * 50_000 + b"</xml>")["a"]) == 50_000
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("body", [
    f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>QUJD</Encrypt><Other>x</Other></xml>".encode(),
    b"<xml><ToUserName>a</ToUserName><ToUserName>b</ToUserName><Encrypt>QUJD</Encrypt></xml>",
    b"<xml><ToUserName><x/></ToUserName><Encrypt>QUJD</Encrypt></xml>",
])
def test_an_envelope_with_anything_but_its_three_tags_is_400(client, clock, body):
    assert _forged(client, clock, body).status_code == 400


@pytest.mark.parametrize("encoding", ["GBK", "Shift_JIS", "gb2312"])
def test_a_non_utf8_declaration_on_the_envelope_is_400(client, clock, encoding):
    body = f'<?xml version="1.0" encoding="{encoding}"?><xml><Encrypt>QUJD</Encrypt></xml>'.encode()
    resp = _forged(client, clock, body)
    assert resp.status_code == 400 and resp.is_json


@pytest.mark.parametrize("encoding", ["GBK", "Shift_JIS"])
def test_a_non_utf8_declaration_inside_the_signed_message_is_400(sender, clock, encoding):
    inner = f'<?xml version="1.0" encoding="{encoding}"?>' + text_xml("zhangsan", "你好", "9001", clock())
    assert sender.post_xml(inner).status_code == 400


def test_the_parser_refuses_what_expat_cannot_decode():
    # pyexpat raises ValueError, not ExpatError, for multi-byte encodings
    with pytest.raises(MalformedError):
        parse_xml('<?xml version="1.0"   encoding = "GBK" ?><xml><a>中</a></xml>'.encode("gbk"))


def test_a_msgid_too_long_to_store_is_400(sender, runtime):
    from sqlalchemy import func, select

    from storage.models import InboundItem

    assert sender.text("zhangsan", "你好", "9" * 200).status_code == 400
    with runtime.factory() as s:
        assert s.scalar(select(func.count()).select_from(InboundItem)) == 0
