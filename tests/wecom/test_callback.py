"""/wecom/callback: what is stored, what is refused, and that the service stays healthy."""

from __future__ import annotations

import http.client
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from bot.wecom import GroupCommit, _Pending, _write
from handlers.model import InboundMessage
from storage.models import InboundItem
from tests.conftest import NOW
from tests.wecom.conftest import CORP_ID, VECTORS, event_xml, text_xml

MSG = VECTORS["message"]


def stored(runtime) -> list[InboundItem]:
    with runtime.factory() as s:
        return list(s.scalars(select(InboundItem).order_by(InboundItem.id)))


def test_text_message_is_stored_before_the_empty_200(sender, runtime):
    resp = sender.text("zhangsan", "关联 华为技术有限公司", "7001")
    assert resp.status_code == 200 and resp.data == b""
    [item] = stored(runtime)
    assert (item.platform, item.kind, item.dedupe_key) == ("wecom", "message", "msg:7001")
    assert item.payload["sender"] == "zhangsan" and item.payload["text"] == "关联 华为技术有限公司"
    assert item.payload["source"] == "app" and item.payload["conversation_type"] == "single"


def test_no_outgoing_http_in_the_request(sender, fake_wecom):
    sender.text("zhangsan", "你好", "7002")
    sender.event("change_external_contact", ChangeType="add_external_contact", UserID="zhangsan",
                 ExternalUserID="wmCUSTOMER1")
    assert fake_wecom.requests == []


def test_documentation_message_vector_is_stored(client, runtime, clock):
    clock.now = datetime.fromtimestamp(int(MSG["timestamp"]), UTC)
    body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{MSG['encrypt']}]]></Encrypt>"
            f"<AgentID><![CDATA[218]]></AgentID></xml>")
    query = urlencode({k: MSG[k] for k in ("msg_signature", "timestamp", "nonce")})
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 200
    [item] = stored(runtime)
    assert item.payload["text"] == "hello" and item.payload["sender"] == "mycreate"


def test_retries_of_the_same_msgid_change_nothing(sender, runtime):
    for _ in range(4):  # the original and WeCom's three retries, each freshly encrypted and signed
        assert sender.text("zhangsan", "你好", "7003").status_code == 200
    assert len(stored(runtime)) == 1


def test_retries_of_the_same_event_change_nothing_but_other_contacts_count(sender, runtime):
    for _ in range(3):
        sender.event("change_external_contact", ChangeType="add_external_contact", UserID="zhangsan",
                     ExternalUserID="wmCUSTOMER1", WelcomeCode="wc1")
    # Same second, same "sys" sender, another customer: a different event.
    sender.event("change_external_contact", ChangeType="add_external_contact", UserID="zhangsan",
                 ExternalUserID="wmCUSTOMER2")
    items = stored(runtime)
    assert len(items) == 2
    # stored as the neutral event, no WeCom keys
    assert items[0].payload["type"] == "customer_added"
    assert items[0].payload["rep"] == "zhangsan"
    assert items[0].payload["customer"] == "wmCUSTOMER1"


def test_forged_signature_is_403(sender, runtime):
    assert sender.text("zhangsan", "你好", "7004").status_code == 200
    resp = sender.post_xml(text_xml("zhangsan", "伪造", "7005", sender.clock()), msg_signature="0" * 40)
    assert resp.status_code == 403
    assert resp.json["error"] == "forbidden" and b"Traceback" not in resp.data
    assert len(stored(runtime)) == 1


def test_missing_signature_is_403(client, crypto, clock):
    body = crypto.seal(text_xml("zhangsan", "x", "1", clock()), "1", "2")
    assert client.post("/wecom/callback?timestamp=1&nonce=2", data=body).status_code == 403
    assert client.get("/wecom/callback?timestamp=1&nonce=2&echostr=abc").status_code == 403


def test_message_for_another_corp_is_403(client, clock, runtime):
    from bot.wecom_crypto import WeComCrypto
    from tests.wecom.conftest import AES_KEY, TOKEN

    other = WeComCrypto(TOKEN, AES_KEY, "wwanothercorp")
    ts = str(int(clock().timestamp()))
    body = other.seal(text_xml("zhangsan", "x", "9", clock()), ts, "5")
    query = urlencode({"msg_signature": other.sign_body(body, ts, "5"), "timestamp": ts, "nonce": "5"})
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 403
    assert stored(runtime) == []


def test_replay_outside_the_freshness_window_is_403(client, crypto, clock, runtime):
    from tests.wecom.conftest import Clock, Sender

    signed_long_ago = Sender(client, crypto, Clock(clock.now - timedelta(hours=3)))
    assert signed_long_ago.text("zhangsan", "旧消息", "7006").status_code == 403
    assert stored(runtime) == []


def test_replaying_a_captured_request_is_ignored(client, crypto, clock, runtime):
    ts, nonce = str(int(clock().timestamp())), "77"
    body = crypto.seal(text_xml("zhangsan", "你好", "7007", clock()), ts, nonce)
    url = "/wecom/callback?" + urlencode({"msg_signature": crypto.sign_body(body, ts, nonce),
                                          "timestamp": ts, "nonce": nonce})
    assert [client.post(url, data=body).status_code for _ in range(3)] == [200, 200, 200]
    assert len(stored(runtime)) == 1


@pytest.mark.parametrize("body", [b"", b"not xml", b"<xml><ToUserName>x</ToUserName></xml>",
                                  b"<xml><Encrypt><x/></Encrypt></xml>"])
def test_malformed_envelope_is_400(client, crypto, clock, body):
    ts = str(int(clock().timestamp()))
    query = urlencode({"msg_signature": "a" * 40, "timestamp": ts, "nonce": "1"})
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 400


def test_signed_but_undecryptable_payload_is_400(client, crypto, clock):
    ts = str(int(clock().timestamp()))
    encrypt = "QUJDREVGR0hJSktMTU5PUA=="  # one AES block of garbage
    body = f"<xml><Encrypt>{encrypt}</Encrypt></xml>".encode()
    query = urlencode({"msg_signature": crypto.signature(ts, "1", encrypt), "timestamp": ts, "nonce": "1"})
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 400


def test_signed_message_that_is_not_xml_inside_is_400(sender):
    assert sender.post_xml("this is not xml").status_code == 400


def test_missing_timestamp_is_400(client):
    assert client.post("/wecom/callback?msg_signature=abc&nonce=1", data=b"<xml/>").status_code == 400


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
])
def test_entity_laden_envelope_is_400(client, clock, doctype):
    ts = str(int(clock().timestamp()))
    body = f'<?xml version="1.0"?>{doctype}<xml><Encrypt>&lol2;</Encrypt></xml>'.encode()
    query = urlencode({"msg_signature": "a" * 40, "timestamp": ts, "nonce": "1"})
    assert client.post(f"/wecom/callback?{query}", data=body).status_code == 400


def test_entity_laden_payload_inside_a_valid_envelope_is_400(sender, runtime):
    inner = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><MsgType>text</MsgType></xml>'
    assert sender.post_xml(inner).status_code == 400
    assert stored(runtime) == []


def test_oversized_body_is_413(client, runtime):
    limit = runtime.settings.server.max_body_bytes
    resp = client.post("/wecom/callback?msg_signature=a&timestamp=1&nonce=1", data=b"<" * (limit + 1))
    assert resp.status_code == 413


def test_oversized_chunked_body_is_413_on_a_real_server(app, runtime):
    """No Content-Length: the limit must hold while the body is read (a real server, chunked)."""
    limit = runtime.settings.server.max_body_bytes
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        body = (b"x" * 4096 for _ in range(limit // 4096 + 2))
        conn.request("POST", "/wecom/callback?msg_signature=a&timestamp=1&nonce=1", body=body,
                     encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        assert conn.getresponse().status == 413
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_concurrent_requests_and_retries_are_each_stored_once(app, crypto, runtime, clock):
    """Requests arriving together share a commit (group commit); each is answered only once stored."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    statuses: list[int] = []

    def client(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for n in range(20):
            msg_id = str(100 + (n % 10) if worker % 2 else worker * 100 + n)  # odd workers repeat ids
            ts, nonce = str(int(clock().timestamp())), f"{worker}-{n}"
            body = crypto.seal(text_xml("zhangsan", f"第{n}条", msg_id, clock()), ts, nonce)
            query = urlencode({"msg_signature": crypto.sign_body(body, ts, nonce), "timestamp": ts, "nonce": nonce})
            conn.request("POST", f"/wecom/callback?{query}", body=body)
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)

    try:
        threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.shutdown()
        server.server_close()
    assert statuses == [200] * 160
    expected = {f"msg:{w * 100 + n}" for w in range(0, 8, 2) for n in range(20)} | {f"msg:{100 + n}" for n in range(10)}
    assert {i.dedupe_key for i in stored(runtime)} == expected
    assert len(stored(runtime)) == len(expected)


class Closable:
    def invalidate(self):
        pass

    def close(self):
        pass


def test_one_failing_item_does_not_fail_the_requests_it_shares_a_commit_with():
    class FlakyState:
        def connect(self):
            return Closable()

        def accept_many(self, items, conn=None):
            raise RuntimeError("batch failed")

        def accept(self, item):
            if item.text == "poison":
                raise RuntimeError("this one is broken")
            return True

    batch = [_Pending(InboundMessage("wecom", "zhangsan", "zhangsan", text, str(i), NOW))
             for i, text in enumerate(["fine", "poison"])]
    _write(FlakyState(), batch)  # the shared insert failed: each item is retried alone
    assert batch[0].outcome() is True
    with pytest.raises(RuntimeError, match="broken"):
        batch[1].outcome()
    with pytest.raises(RuntimeError, match="batch failed"):  # alone, its own failure is the answer
        GroupCommit().store(FlakyState(), batch[0].item)


def test_a_storage_failure_is_a_500_so_wecom_retries(sender, app, monkeypatch):
    from bot.app import AppState

    def broken(self, item):
        raise RuntimeError("database is down")

    monkeypatch.setattr(AppState, "accept_many", broken)
    monkeypatch.setattr(AppState, "accept", broken)
    assert sender.text("zhangsan", "你好", "7100").status_code == 500
    monkeypatch.undo()
    assert sender.text("zhangsan", "你好", "7100").status_code == 200


def test_service_stays_healthy_after_abuse(client, sender, runtime, clock):
    sender.post_xml(text_xml("zhangsan", "x", "1", clock()), msg_signature="0" * 40)
    client.post("/wecom/callback?msg_signature=a&timestamp=1&nonce=1", data=b"<!DOCTYPE x []><xml/>")
    client.post("/wecom/callback?msg_signature=a&timestamp=1&nonce=1", data=b"x" * (2 * 1024 * 1024))
    client.post("/wecom/callback?msg_signature=a&timestamp=1&nonce=1", data=b"\x00\xff" * 100)
    assert client.get("/healthz").status_code == 200
    assert sender.text("zhangsan", "still here", "7010").status_code == 200
    with runtime.factory() as s:
        assert s.scalar(select(func.count(InboundItem.id))) == 1


def test_events_without_message_ids_and_unknown_types(sender, runtime):
    sender.event("enter_agent", FromUserName="zhangsan", AgentID="218")
    sender.post_xml(event_xml("enter_agent", sender.clock(), FromUserName="zhangsan", AgentID="218"))
    assert sender.post_xml("<xml><MsgType>mystery</MsgType><CreateTime>1</CreateTime></xml>").status_code == 200
    # acknowledged; nothing the bot acts on, so nothing is stored
    assert stored(runtime) == []


def test_callback_is_404_when_wecom_is_not_configured(write_config):
    from bot.app import create_app
    from bot.config import load_settings

    app = create_app(load_settings(write_config(), environ={}))
    assert app.test_client().post("/wecom/callback?msg_signature=a&timestamp=1&nonce=1").status_code == 404
