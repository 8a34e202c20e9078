"""[leads] problems name the key; the documented example reads as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, settings_from_mapping


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(raw, "c.toml")
    return [str(p) for p in caught.value.problems]


def test_bad_leads_keys_are_named() -> None:
    found = problems({"leads": {"reclaim_hours": 12, "first_contact_hours": 24, "daly_cap": 3,
                                "sources": [{"name": "m", "token": "short"}],
                                "reps": [{"id": "a", "on_leave": "yes"}], "weights": {"industry": "high"}}})
    # one Chinese line per mistake, entries counted from 1 with their name (like every other section)
    assert "c.toml: leads.reclaim_hours: 必须大于 first_contact_hours（24），现在是 12" in found
    assert "c.toml: leads.daly_cap: 没有这个键，是不是 'daily_cap'？" in found
    assert "c.toml: leads.sources[1] (m).token: 至少要 16 个字符（一个随机的密钥），现在只有 5 个" in found
    assert "c.toml: leads.reps[1] (a).on_leave: 只能是 true 或 false，现在是 'yes'" in found
    assert any(p.startswith("c.toml: leads.weights.industry: 必须是数字") for p in found)
    assert len(found) == 5


def test_example_documents_the_leads_section() -> None:
    leads = load_settings(Path(__file__).parents[2] / "config.example.toml", environ={}).leads
    assert leads.industry_daily_max == 2 and leads.weights.industry == 0.4
    assert leads.sources[0].name == "marketing" and leads.rep("zhangsan").industries == ("K12", "制造")
