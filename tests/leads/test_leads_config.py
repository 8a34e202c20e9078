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
    assert "c.toml: leads.reclaim_hours: must be greater than first_contact_hours" in found
    assert "c.toml: leads.daly_cap: unknown key (typo?)" in found
    assert any(p.startswith("c.toml: leads.sources[0].token: must be at least 16") for p in found)
    assert "c.toml: leads.reps[0].on_leave: must be true or false" in found
    assert any(p.startswith("c.toml: leads.weights.industry: must be a number") for p in found)


def test_example_documents_the_leads_section() -> None:
    leads = load_settings(Path(__file__).parents[2] / "config.example.toml", environ={}).leads
    assert leads.industry_daily_max == 2 and leads.weights.industry == 0.4
    assert leads.sources[0].name == "marketing" and leads.rep("zhangsan").industries == ("K12", "制造")
