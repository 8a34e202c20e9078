"""Words quoted from people never become links on a card: only the bot's own buttons are links.

Every card type that quotes a person (customer words, notes, names, reasons) is produced by the real
handlers from a hostile payload, then rendered for DingTalk and WeCom in every format they use.
"""

from __future__ import annotations

import re

from bot.card_text import inert_markdown
from bot.dingtalk import render_markdown as dingtalk_markdown
from bot.dingtalk import render_work_notice, tap_link
from bot.wecom import render_markdown as wecom_markdown
from bot.wecom import render_template_card, render_textcard
from handlers.event_model import CustomerDeletedRep
from handlers.model import Card
from scheduler.inbound import process_inbound
from storage import customers
from storage.db import transaction
from storage.queues import store_inbound
from tests.approvals.conftest import Chat

LINK = "(dtmd://dingtalkclient/sendMessage?content=同意%20A2)"
PAYLOAD = f"[点此查看新报价]{LINK}<a href='http://evil.example/'>x</a>"
MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
LIVE_SCHEME = re.compile(r"(?:dtmd|https?|javascript):", re.IGNORECASE)


def _cards_quoting_people(chat: Chat) -> dict[str, Card]:
    """One card of each kind that quotes a person, each carrying PAYLOAD in what it quotes."""
    name = f"华为{PAYLOAD}"
    customer_id = chat.add_customer(name)
    with transaction(chat.factory) as s:
        customers.add_identity(s, s.get(customers.Customer, customer_id), "wecom", "wm-cust")
    found: dict[str, Card] = {}
    [found["linked"]] = chat.say("zhangsan", f"关联 {name}")
    chat.say("zhangsan", f"客户说竞品更便宜 {PAYLOAD}")  # a note, scanned like the customer's words
    found["risk"] = next(c for c in chat.cards_for("lisi") if c.title.startswith("客户风险提示"))
    found["pack"] = chat.say("zhangsan", "应对 R1")[0]
    chat.say("zhangsan", f"客户要样品 {PAYLOAD}")
    found["todo"] = next(c for c in chat.cards_for("zhangsan") if c.title.startswith("新待办"))
    found["todos"] = chat.say("zhangsan", "待办")[0]
    chat.say("zhangsan", f"报价 {name} 680000 {PAYLOAD}")
    found["approval"] = next(c for c in chat.cards_for("lisi") if c.buttons and "A1" in c.text())
    chat.say("lisi", f"驳回 A1 {PAYLOAD}")
    found["rejected"] = next(c for c in chat.cards_for("zhangsan") if "驳回" in c.title)
    found["customer"] = chat.say("zhangsan", "客户")[0]
    event = CustomerDeletedRep(platform="wecom", dedupe_key="evt:del", time=chat.now, rep="zhangsan",
                               customer="wm-cust")
    with transaction(chat.factory) as s:
        store_inbound(s, "wecom", event.dedupe_key, "event", event.to_dict(), chat.now)
    process_inbound(chat.factory, chat.runtime.settings, chat.now, "w1")
    chat.deliver()
    found["contact_deleted"] = next(c for c in chat.cards_for("lisi") if c.title.startswith("风险：客户删除了"))
    for kind, card in found.items():
        assert "点此查看新报价" in card.text(), kind  # the payload really is quoted on each of them
    return found


def _markdown_renderings(card: Card) -> list[str]:
    notice = render_work_notice(card, "footer")
    return [dingtalk_markdown(card, "footer"), dingtalk_markdown(card, tappable=False),
            notice.get("markdown", {}).get("text", "") or notice["action_card"]["markdown"], wecom_markdown(card)]


def _plain_renderings(card: Card) -> list[str]:
    """WeCom template_card and textcard texts: not markdown, but clients auto-link URLs in them."""
    tc = render_template_card(card, "task-1")
    plain = [tc["main_title"]["title"], tc.get("sub_title_text", ""), render_textcard(card)["description"]]
    return plain + [f"{r['keyname']}{r['value']}" for r in tc.get("horizontal_content_list", [])]


def _own_targets(card: Card) -> set[str]:
    return {tap_link(b.command) for b in card.buttons} | ({card.link} if card.link else set())


def test_no_quoted_payload_becomes_a_link_on_either_platform(chat: Chat):
    for kind, card in _cards_quoting_people(chat).items():
        for text in _markdown_renderings(card):
            for _label, target in MD_LINK.findall(text):
                assert target in _own_targets(card), (kind, target)
            without_buttons = MD_LINK.sub("", text)
            assert not LIVE_SCHEME.search(without_buttons), (kind, text)
            assert "<a " not in without_buttons and "](" not in without_buttons, (kind, text)
        for text in _plain_renderings(card):
            assert not LIVE_SCHEME.search(text), (kind, text)


def test_the_bots_own_buttons_stay_links(chat: Chat):
    approval = _cards_quoting_people(chat)["approval"]
    targets = [t for _l, t in MD_LINK.findall(dingtalk_markdown(approval))]
    assert targets == [tap_link(b.command) for b in approval.buttons] and targets
    assert [b["key"] for b in render_template_card(approval, "t")["button_list"]] == \
        [b.command for b in approval.buttons]


def test_quoted_link_syntax_reads_as_full_width_text():
    assert inert_markdown("[点此](dtmd://x)") == "【点此】（dtmd：//x）"
    assert inert_markdown("# 标题\n> 引用") == "＃ 标题\n＞ 引用"
