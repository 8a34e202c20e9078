"""Message handling never blocks ingest: a huge note is scanned outside the write transaction, and only
up to [scan] max_chars; jieba loads at start-up."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from bot.app import create_app
from handlers import scanning
from handlers.keywords import lexicon
from handlers.model import InboundMessage
from scheduler.inbound import process_inbound
from storage.models import Message, OutboxItem
from tests.conftest import NOW, PG_URL


def _note(text: str, msg_id: str) -> InboundMessage:
    return InboundMessage(platform="console", sender="zhangsan", conversation="zhangsan", text=text,
                          msg_id=msg_id, time=NOW)


def _cards(runtime) -> list[str]:
    with runtime.factory() as s:
        return [o.card["title"] for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))]


@pytest.mark.skipif(bool(PG_URL), reason="the single writer lock is SQLite's")
def test_a_230k_character_note_does_not_delay_a_concurrent_webhook(runtime):
    state = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    state.accept(_note("关联 华为", "m0"))
    process_inbound(runtime.factory, runtime.settings, NOW, "w1")
    state.accept(_note("客户说友商报价更低，考虑换供应商。" * 13_000, "long"))  # ~230,000 characters
    handler = threading.Thread(target=process_inbound, args=(runtime.factory, runtime.settings, NOW, "w1"))
    handler.start()
    slowest, n = 0.0, 0
    while handler.is_alive() or n < 3:
        n += 1
        started = time.perf_counter()
        assert state.accept(_note("今天拜访了客户", f"w{n}"))  # a webhook arriving meanwhile
        slowest = max(slowest, time.perf_counter() - started)
    handler.join()
    assert slowest < 1.0, f"a webhook waited {slowest:.2f} s for the handler"
    with runtime.factory() as s:
        stored = s.scalars(select(Message).where(Message.platform_msg_id == "long")).one()
    assert len(stored.text) == 17 * 13_000  # stored whole


def test_only_the_first_max_chars_are_scanned(runtime):
    state = create_app(runtime=runtime, clock=lambda: NOW).extensions["salesbot"]
    state.accept(_note("关联 华为", "m0"))
    limit = runtime.settings.scan.max_chars
    state.accept(_note("今天电话回访。" * (limit // 7 + 1) + "客户在考虑换供应商", "late"))
    process_inbound(runtime.factory, runtime.settings, NOW, "w1")
    assert not [t for t in _cards(runtime) if t.startswith("客户风险提示")]  # the keyword past the limit: nothing
    state.accept(_note("客户在考虑换供应商" + "今天电话回访。" * (limit // 7 + 1), "early"))
    process_inbound(runtime.factory, runtime.settings, NOW, "w1")
    assert "客户风险提示：流失风险" in _cards(runtime)


def test_warm_up_loads_the_dictionary_before_any_message(settings, monkeypatch):
    scanning._engine.cache_clear()
    monkeypatch.setattr(scanning, "_last_engine", None)
    lexicon.tokenizer_for.cache_clear()
    monkeypatch.setattr(lexicon, "_parts", None)
    scanning.warm_up(settings)
    assert scanning._engine.cache_info().currsize == 1  # the engine is built
    assert lexicon._parts is not None  # and jieba's dictionary is in memory
