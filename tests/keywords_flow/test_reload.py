"""Rules edited in the running service's config: a good edit changes the next scan, a broken one does
not, and admins are told what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from bot.cli_common import config_reloader as _config_reloader
from handlers.scanning import engine_for
from storage.models import OutboxItem
from tests.conftest import NOW


def _edit(runtime, old: str, new: str) -> Path:
    path = Path(runtime.settings.source)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    mtime = path.stat().st_mtime + 10  # a later mtime, whatever the file system's resolution
    os.utime(path, (mtime, mtime))
    return path


def _admin_cards(runtime):
    with runtime.factory() as s:
        rows = s.scalars(select(OutboxItem).where(OutboxItem.recipient_id == "sunqi")).all()
    return [r.card for r in rows]


def test_an_edited_rule_changes_the_next_scan(flow):
    runtime, reload = flow.runtime, _config_reloader(flow.runtime, clock=lambda: NOW)
    assert flow.customer_says("你们涨价太快了").items == []
    _edit(runtime, 'keywords = ["降价", "便宜"', 'keywords = ["涨价", "降价", "便宜"')
    reload()
    assert "涨价" in next(r for r in runtime.settings.rules if r.name == "price_cut").keywords
    out = flow.customer_says("你们涨价太快了")
    assert {who for who, _ in out.titled("客户风险提示：降价压力")} == {"zhangsan", "lisi"}
    assert _admin_cards(runtime) == []


def test_a_broken_edit_keeps_the_old_rules_and_tells_admins(flow):
    runtime, reload = flow.runtime, _config_reloader(flow.runtime, clock=lambda: flow.now)
    before = runtime.settings
    path = _edit(runtime, 'keywords = ["降价", "便宜"', 'keywords = ["涨价", "降价", "便宜"')
    _edit(runtime, 'severity = "medium"', 'severity = "urgent"')
    reload()
    assert runtime.settings is before
    (card,) = flow.run().to("sunqi")
    assert card.title == "配置修改未生效"
    text = card.text()
    assert f"文件：{path}" in text
    assert "rules[2] (price_cut).severity：只能是 low、medium 或 high，现在是 'urgent'" in text
    assert "旧规则继续生效" in text
    assert flow.customer_says("你们涨价太快了").items == []  # the edit did not take effect
    assert flow.customer_says("能便宜点吗").titled("客户风险提示：降价压力")  # the old rules still run
    # Saved again with the same mistake: no second card. A different mistake: a new one.
    _edit(runtime, "cooldown_hours = 24", "cooldown_hours = 24 ")
    reload()
    assert len(_admin_cards(runtime)) == 1
    _edit(runtime, "cooldown_hours = 24 ", 'cooldown_hours = "soon"')
    reload()
    cards = _admin_cards(runtime)
    assert len(cards) == 2 and any("scan.cooldown_hours" in line for line in cards[1]["lines"])
    # Fixed: the edit takes effect.
    _edit(runtime, 'cooldown_hours = "soon"', "cooldown_hours = 24")
    _edit(runtime, 'severity = "urgent"', 'severity = "medium"')
    reload()
    assert runtime.settings is not before
    assert [c.title for c in flow.run().to("sunqi")] == ["配置修改未生效"]  # the second mistake's card
    flow.later(hours=25)  # past the cooldown of the earlier price_cut event
    out = flow.customer_says("你们涨价太快了")
    assert {who for who, _ in out.titled("客户风险提示：降价压力")} == {"zhangsan", "lisi"}


def test_the_engine_is_rebuilt_only_when_rules_or_scan_change(runtime):
    from dataclasses import replace

    settings = runtime.settings
    engine = engine_for(settings)
    assert engine_for(replace(settings, source="other.toml")) is engine
    fewer = replace(settings, rules=settings.rules[1:])
    assert engine_for(fewer) is not engine
    assert engine_for(fewer).rules_fired("友商便宜") == ["price_cut"]
    stricter = replace(settings, scan=replace(settings.scan, negations=(*settings.scan.negations, "别")))
    assert engine_for(stricter) is not engine


def test_platform_credentials_added_while_running_take_effect(flow):
    runtime, reload = flow.runtime, _config_reloader(flow.runtime, clock=lambda: NOW)
    runtime.channels.update({"console": object()})
    channels = runtime.channels  # the dict the running worker holds
    path = Path(runtime.settings.source)
    key = "a" * 43
    path.write_text(path.read_text(encoding="utf-8") + f'\n[wecom]\ncorp_id = "ww1"\nagent_id = 1\nsecret = "s"\n'
                    f'token = "t"\nencoding_aes_key = "{key}"\napi_base = "http://127.0.0.1:9/cgi-bin/"\n',
                    encoding="utf-8")
    mtime = path.stat().st_mtime + 10
    os.utime(path, (mtime, mtime))
    try:
        reload()
        assert runtime.settings.wecom.enabled
        assert channels is runtime.channels and set(channels) == {"console", "wecom"}
    finally:  # building the WeCom channel registers its contact directory and archive source
        from handlers import archive, contacts

        contacts.register_directory("wecom", None)
        archive.register_source("wecom", None)
