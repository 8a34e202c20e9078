"""The [leads] reader: [leads], [leads.weights], [[leads.sources]], [[leads.reps]] into handlers.leads_settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.config_messages import entry_label
from bot.config_reader import Reader
from handlers.leads_settings import LeadRepConfig, LeadsConfig, LeadSourceConfig, LeadWeights

_LEADS_NUMBERS = ("capacity", "daily_cap", "industry_daily_max", "stale_hours", "win_rate_days",
                  "first_contact_hours", "reclaim_hours", "claim_daily_max", "claim_holding_max", "api_per_minute",
                  "org_sync_hours")


def read_leads(r: Reader, raw: Mapping[str, Any]) -> LeadsConfig:
    """[leads], [leads.weights], [[leads.sources]], [[leads.reps]]."""
    t = r.table(raw, "leads")
    p = "leads."
    r.unknown_keys(t, {"roles", "match_region", "weights", "sources", "reps", "fairness_threshold", *_LEADS_NUMBERS}, p)
    d = LeadsConfig()
    numbers = {key: r.number(t, key, p, getattr(d, key)) for key in _LEADS_NUMBERS}
    numbers["fairness_threshold"] = r.number(t, "fairness_threshold", p, d.fairness_threshold, float)
    for key in ("capacity", "first_contact_hours", "reclaim_hours", "api_per_minute"):
        if numbers[key] < 1:
            r.problem(f"{p}{key}", f"不能小于 1，现在是 {numbers[key]}")
    if numbers["reclaim_hours"] <= numbers["first_contact_hours"]:
        r.problem(f"{p}reclaim_hours", f"必须大于 first_contact_hours（{numbers['first_contact_hours']}），现在是 {numbers['reclaim_hours']}")
    match_region = t.get("match_region", d.match_region)
    if not isinstance(match_region, bool):
        r.problem(f"{p}match_region", f"只能是 true 或 false，现在是 {match_region!r}")
        match_region = d.match_region
    return LeadsConfig(roles=r.str_list(t, "roles", p) if "roles" in t else d.roles, match_region=match_region,
                       weights=_read_lead_weights(r, t), sources=_read_lead_sources(r, t),
                       reps=_read_lead_reps(r, t), **numbers)


def _read_lead_weights(r: Reader, t: Mapping[str, Any]) -> LeadWeights:
    w = r.table(t, "leads.weights")
    p = "leads.weights."
    r.unknown_keys(w, {"industry", "win_rate", "load", "stale"}, p)
    d = LeadWeights()
    return LeadWeights(**{k: r.number(w, k, p, getattr(d, k), float) for k in ("industry", "win_rate", "load", "stale")})


def _tables(r: Reader, t: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
    items = t.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        r.problem(f"leads.{key}", f"必须写成表数组：每项一段 [[leads.{key}]]")
        return []
    name_key = "name" if key == "sources" else "id"
    return [(f"{entry_label(f'leads.{key}', i, item, name_key)}.", item) for i, item in enumerate(items, start=1)]


def _read_lead_sources(r: Reader, t: Mapping[str, Any]) -> tuple[LeadSourceConfig, ...]:
    sources: list[LeadSourceConfig] = []
    for p, s in _tables(r, t, "sources"):
        r.unknown_keys(s, {"name", "token"}, p)
        name, token = r.str_(s, "name", p), r.str_(s, "token", p)
        if not name:
            r.problem(f"{p}name", "必须填写（来源的名字，例如 website）")
        if len(token) < 16:
            r.problem(f"{p}token", f"至少要 16 个字符（一个随机的密钥），现在只有 {len(token)} 个")
        if name and any(x.name == name for x in sources):
            r.problem(f"{p}name", f"来源 {name!r} 重复了（每个来源只能写一段）")
        sources.append(LeadSourceConfig(name, token))
    return tuple(sources)


def _read_lead_reps(r: Reader, t: Mapping[str, Any]) -> tuple[LeadRepConfig, ...]:
    reps: list[LeadRepConfig] = []
    for p, s in _tables(r, t, "reps"):
        r.unknown_keys(s, {"id", "industries", "region", "capacity", "on_leave"}, p)
        uid = r.str_(s, "id", p)
        if not uid:
            r.problem(f"{p}id", "必须填写（[[users]] 里的用户 id）")
            continue
        on_leave = s.get("on_leave", False)
        if not isinstance(on_leave, bool):
            r.problem(f"{p}on_leave", f"只能是 true 或 false，现在是 {on_leave!r}")
            on_leave = False
        reps.append(LeadRepConfig(uid, r.str_list(s, "industries", p), r.opt_str(s, "region", p),
                                  r.number(s, "capacity", p, None), on_leave))
    return tuple(reps)
