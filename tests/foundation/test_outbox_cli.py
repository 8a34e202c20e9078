"""`salesbot outbox list|retry|drop`: an operator finds dead cards and resends or drops them."""

from __future__ import annotations

from sqlalchemy import select

from bot.cli import main
from handlers import outbox
from handlers.context import Context
from handlers.model import Card
from storage.db import transaction
from storage.models import OutboxItem
from tests.conftest import NOW


def _dead_card(runtime, title: str) -> int:
    with transaction(runtime.factory) as s:
        outbox.post(Context(s, runtime.settings, NOW), [Card(title, recipients=("zhangsan",))])
        row = s.scalars(select(OutboxItem).order_by(OutboxItem.id.desc())).first()
        assert row is not None
        row.status, row.last_error = "dead", "wecom errcode -1003: HTTP 503"
        return row.id


def _status(runtime, item_id: int) -> str:
    with runtime.factory() as s:
        return s.get(OutboxItem, item_id).status  # type: ignore[union-attr]


def test_list_shows_dead_cards_with_their_reason(runtime, capsys):
    item = _dead_card(runtime, "风险提醒")
    assert main(["outbox", "list", "--config", runtime.settings.source]) == 0
    out = capsys.readouterr().out
    assert f"{item}\tdead\tconsole:zhangsan" in out and "风险提醒" in out and "HTTP 503" in out


def test_retry_requeues_a_dead_card_and_drop_stops_one(runtime, capsys):
    first, second = _dead_card(runtime, "风险提醒"), _dead_card(runtime, "过期提醒")
    assert main(["outbox", "retry", str(first), "--config", runtime.settings.source]) == 0
    assert main(["outbox", "drop", str(second), "--config", runtime.settings.source]) == 0
    assert (_status(runtime, first), _status(runtime, second)) == ("pending", "dropped")


def test_retrying_a_card_that_is_not_dead_says_so(runtime, capsys):
    item = _dead_card(runtime, "风险提醒")
    assert main(["outbox", "retry", str(item), "--config", runtime.settings.source]) == 0
    assert main(["outbox", "retry", str(item), "999", "--config", runtime.settings.source]) == 1
    assert "not requeued" in capsys.readouterr().out
