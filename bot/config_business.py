"""Business config readers: [[users]], [scan], [[rules]], [[approvals]] and [sla].

The settings types they produce live in `handlers.settings`; every check names the entry and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from bot.config_messages import did_you_mean, entry_label, one_of
from bot.config_reader import Reader, default_config_text
from bot.config_sections import IDENTITY_KEYS, PLATFORMS
from handlers.settings import (
    ApprovalConfig,
    ApprovalStepConfig,
    RuleConfig,
    ScanConfig,
    SlaConfig,
    UserConfig,
)

RULE_KINDS = ("risk", "todo", "change")
SEVERITIES = ("low", "medium", "high")
APPROVAL_KINDS = ("quote", "contract")

NOTIFY_TARGETS = ("owner", "manager", "director", "admin")


def read_users(r: Reader, raw: Mapping[str, Any]) -> tuple[UserConfig, ...]:
    items = raw.get("users", [])
    if not isinstance(items, list):
        r.problem("users", "必须写成表数组：每人一段 [[users]]")
        return ()
    users: list[UserConfig] = []
    labels: list[str] = []
    for i, t in enumerate(items, start=1):
        label = entry_label("users", i, t, "id")
        p = f"{label}."
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[users]] 段）")
            continue
        r.unknown_keys(t, {"id", "name", "role", "manager", "prefer", *IDENTITY_KEYS.values()}, p)
        uid = r.str_(t, "id", p)
        if not uid:
            r.problem(f"{p}id", "必须填写（用户的唯一标识）")
            continue
        prefer = r.opt_str(t, "prefer", p)
        if prefer is not None and prefer not in IDENTITY_KEYS:
            r.problem(f"{p}prefer", f"只能是 {one_of(IDENTITY_KEYS)}，现在是 {prefer!r}")
        labels.append(label)
        users.append(
            UserConfig(
                id=uid,
                name=r.str_(t, "name", p, uid) or uid,
                role=r.str_(t, "role", p, "rep") or "rep",
                manager=r.opt_str(t, "manager", p),
                wecom_userid=r.opt_str(t, "wecom_userid", p),
                dingtalk_userid=r.opt_str(t, "dingtalk_userid", p),
                prefer=prefer,
                other_ids=tuple((name, value) for name, key in IDENTITY_KEYS.items() if name not in PLATFORMS
                                if (value := r.opt_str(t, key, p))),
            )
        )
    _check_users(r, users, labels)
    return tuple(users)


def _check_users(r: Reader, users: list[UserConfig], labels: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, u in enumerate(users):
        if u.id in seen:
            r.problem(f"{labels[i]}.id", f"用户 id {u.id!r} 重复（第一次出现在 {labels[seen[u.id]]}）")
        seen.setdefault(u.id, i)
    for platform, attr in IDENTITY_KEYS.items():
        owners: dict[str, str] = {}
        for i, u in enumerate(users):
            value = u.platform_ids.get(platform)
            if value and value in owners and owners[value] != u.id:
                r.problem(f"{labels[i]}.{attr}", f"{value!r} 已经是用户 {owners[value]!r} 的 {attr}")
            if value:
                owners.setdefault(value, u.id)
    for i, u in enumerate(users):
        if u.manager is not None and u.manager not in seen:
            r.problem(f"{labels[i]}.manager", f"上级 {u.manager!r} 不存在：[[users]] 里没有这个 id"
                                              f"{did_you_mean(u.manager, seen)}")
        elif u.manager == u.id:
            r.problem(f"{labels[i]}.manager", "不能是自己的上级")
    _check_manager_cycles(r, users, labels)


def _check_manager_cycles(r: Reader, users: list[UserConfig], labels: list[str]) -> None:
    managers = {u.id: u.manager for u in users}
    loops: set[frozenset[str]] = set()
    for i, u in enumerate(users):
        path = [u.id]
        current = u.manager
        while current is not None and current in managers:
            if current in path:
                if current != u.id or frozenset(path) in loops:
                    break  # reported once, at the first user of the loop
                loops.add(frozenset(path))
                r.problem(f"{labels[i]}.manager", f"上级关系成环：{' → '.join([*path, u.id])}（一个人不能是自己的间接上级）")
                break
            path.append(current)
            current = managers[current]


_SCAN_WORD_LISTS = ("compound_negations", "after_negations", "neutral_words", "extra_words", "event_verbs")


def read_scan(r: Reader, raw: Mapping[str, Any]) -> ScanConfig:
    t = r.table(raw, "scan")
    r.unknown_keys(t, {"negations", "cooldown_hours", "max_chars", *_SCAN_WORD_LISTS, "senses", *_SCAN_FOLLOW_UP},
                   "scan.")
    defaults = _default_scan_table()
    lists: dict[str, Any] = {key: r.str_list(t if key in t else defaults, key, "scan.") for key in _SCAN_WORD_LISTS}
    cfg = ScanConfig(
        negations=r.str_list(t, "negations", "scan."),
        cooldown_hours=r.number(t, "cooldown_hours", "scan.", 24),
        max_chars=r.number(t, "max_chars", "scan.", ScanConfig.max_chars),
        senses=_read_senses(r, t if "senses" in t else defaults, "scan."),
        **lists,
        **_read_scan_follow_up(r, t),
    )
    if cfg.max_chars < 100:
        r.problem("scan.max_chars", "不能小于 100（每条消息最多扫描的字数）")
    return cfg


_SCAN_FOLLOW_UP = ("close_remind_hours", "digest_hour", "report_weekday", "report_hour")


def _read_scan_follow_up(r: Reader, t: Mapping[str, Any]) -> dict[str, Any]:
    d = ScanConfig()
    hours = t.get("close_remind_hours", list(d.close_remind_hours))
    if not isinstance(hours, list) or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hours):
        r.problem("scan.close_remind_hours", "应当是正整数（小时）的列表，例如 [72, 168]；写 [] 表示不提醒")
        hours = list(d.close_remind_hours)
    values: dict[str, Any] = {"close_remind_hours": tuple(sorted(set(hours)))}
    for key, low, high, what in (("digest_hour", 0, 23, "0 到 23 之间的整点（北京时间）"),
                                 ("report_hour", 0, 23, "0 到 23 之间的整点（北京时间）"),
                                 ("report_weekday", 1, 7, "1 到 7 之间（1 = 星期一）")):
        value = t.get(key, getattr(d, key))
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            r.problem(f"scan.{key}", f"应当是{what}，现在是 {value!r}")
            value = getattr(d, key)
        values[key] = value
    return values


@lru_cache(maxsize=1)
def _default_scan_table() -> Mapping[str, Any]:
    """The packaged `[scan]` table: defaults for the keyword reading word lists a config leaves out."""
    table = tomllib.loads(default_config_text()).get("scan", {})
    return table if isinstance(table, Mapping) else {}


def _read_senses(r: Reader, t: Mapping[str, Any], p: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`senses = { 关键词 = ["线索词", …] }`: words showing the keyword is used in another sense."""
    value = t.get("senses", {})
    if not isinstance(value, Mapping):
        r.problem(f"{p}senses", "应当是一个表：关键词 = [\"线索词\", …]")
        return ()
    senses = []
    for keyword, cues in value.items():
        if not keyword.strip():
            r.problem(f"{p}senses", "关键词不能为空")
            continue
        if isinstance(cues, str):
            cues = [cues]
        if not isinstance(cues, list) or not all(isinstance(c, str) and c.strip() for c in cues):
            r.problem(f"{p}senses.{keyword}", "应当是非空字符串的列表，例如 [\"比赛\", \"球队\"]")
            continue
        senses.append((keyword, tuple(cues)))
    return tuple(senses)


_RULE_KEYS = {"name", "label", "kind", "severity", "keywords", "exclude", "notify", "advice", "due_hours", "senses",
              "notify_mode"}
NOTIFY_MODES = ("each", "daily")


def read_rules(r: Reader, raw: Mapping[str, Any]) -> tuple[RuleConfig, ...]:
    items = raw.get("rules", [])
    if not isinstance(items, list):
        r.problem("rules", "必须写成表数组：每条规则一段 [[rules]]")
        return ()
    rules: list[RuleConfig] = []
    names: dict[str, str] = {}
    for i, t in enumerate(items, start=1):
        label = entry_label("rules", i, t, "name")
        p = f"{label}."
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[rules]] 段）")
            continue
        rule = _read_rule(r, t, p)
        if rule is None:
            continue
        if rule.name in names:
            r.problem(f"{p}name", f"规则名 {rule.name!r} 重复（第一次出现在 {names[rule.name]}）")
        names.setdefault(rule.name, label)
        rules.append(rule)
    return tuple(rules)


def _read_rule(r: Reader, t: Mapping[str, Any], p: str) -> RuleConfig | None:
    r.unknown_keys(t, _RULE_KEYS, p)
    name = r.str_(t, "name", p)
    if not name:
        r.problem(f"{p}name", "必须填写（规则的唯一标识，英文）")
        return None
    kind = r.str_(t, "kind", p)
    if kind not in RULE_KINDS:
        r.problem(f"{p}kind", f"只能是 {one_of(RULE_KINDS)}，现在是 {kind!r}")
    severity = r.str_(t, "severity", p, "medium")
    if severity not in SEVERITIES:
        r.problem(f"{p}severity", f"只能是 {one_of(SEVERITIES)}，现在是 {severity!r}")
    keywords = r.str_list(t, "keywords", p)
    if not keywords:
        r.problem(f"{p}keywords", "至少要有一个关键词")
    notify = r.str_list(t, "notify", p)
    for target in notify:
        if target not in NOTIFY_TARGETS and not target.startswith(("user:", "role:")):
            r.problem(f"{p}notify", f"不认识的接收人 {target!r}；可以写 owner、manager、director、admin、"
                                    "user:<id> 或 role:<角色>")
    return RuleConfig(
        name=name,
        label=r.str_(t, "label", p, name) or name,
        kind=kind,
        keywords=keywords,
        severity=severity,
        exclude=r.str_list(t, "exclude", p),
        notify=notify,
        advice=r.str_(t, "advice", p),
        due_hours=r.number(t, "due_hours", p, 24),
        senses=_read_senses(r, t, p),
        notify_mode=_read_notify_mode(r, t, p),
    )


def _read_notify_mode(r: Reader, t: Mapping[str, Any], p: str) -> str:
    mode = r.str_(t, "notify_mode", p, "each")
    if mode not in NOTIFY_MODES:
        r.problem(f"{p}notify_mode", f"应当是 \"each\"（每条消息发卡片）或 \"daily\"（每天汇总一张），现在是 {mode!r}")
        return "each"
    return mode


def read_approvals(r: Reader, raw: Mapping[str, Any], users: tuple[UserConfig, ...]) -> tuple[ApprovalConfig, ...]:
    items = raw.get("approvals", [])
    if not isinstance(items, list):
        r.problem("approvals", "必须写成表数组：每种单据一段 [[approvals]]")
        return ()
    chains: list[ApprovalConfig] = []
    for i, t in enumerate(items, start=1):
        label = entry_label("approvals", i, t, "kind")
        p = f"{label}."
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[approvals]] 段）")
            continue
        r.unknown_keys(t, {"kind", "sla_hours", "steps"}, p)
        kind = r.str_(t, "kind", p)
        if kind not in APPROVAL_KINDS:
            r.problem(f"{p}kind", f"只能是 {one_of(APPROVAL_KINDS)}，现在是 {kind!r}")
        if any(c.kind == kind for c in chains):
            r.problem(f"{p}kind", f"{kind!r} 的审批流前面已经定义过了（每种单据只能有一段）")
        steps = _read_steps(r, t.get("steps", []), f"{p}steps", users)
        sla_hours = r.number(t, "sla_hours", p, 24)
        if sla_hours < 1:
            r.problem(f"{p}sla_hours", f"不能小于 1，现在是 {sla_hours}")
        _check_chain(r, f"{p}steps", steps, users)
        chains.append(ApprovalConfig(kind=kind, steps=steps, sla_hours=sla_hours))
    return tuple(chains)


def _check_chain(r: Reader, key: str, steps: tuple[ApprovalStepConfig, ...], users: tuple[UserConfig, ...]) -> None:
    """A chain climbs the org chart (manager levels increase), names each approver once, and every
    step's amount range and SLA make sense."""
    depth = _deepest_manager_chain(users)
    # A broken [[users]] entry is reported there; the chains' depth checks would only repeat it.
    org_broken = any(p.key.startswith("users") for p in r.problems)
    highest, seen = 0, dict[str, int]()
    for j, step in enumerate(steps, start=1):
        p = f"{key}[{j}]."
        if step.sla_hours is not None and step.sla_hours < 1:
            r.problem(f"{p}sla_hours", f"不能小于 1，现在是 {step.sla_hours}")
        if step.min_amount is not None and step.max_amount is not None and step.min_amount > step.max_amount:
            r.problem(f"{p}min_amount", f"比 max_amount 还大（{step.min_amount:g} > {step.max_amount:g}）")
        if step.approver in seen:
            r.problem(f"{p}approver", f"{step.approver!r} 已经是 steps[{seen[step.approver]}] 的审批人，"
                                      "同一审批流里每人只审一次")
        seen.setdefault(step.approver, j)
        level = _manager_level(step.approver)
        if level is None:
            continue
        if users and level > depth and not org_broken:
            r.problem(f"{p}approver", f"[[users]] 里没有人有 {level} 级上级，{step.approver!r} 永远找不到审批人")
        if level <= highest:
            r.problem(f"{p}approver", f"{step.approver!r} 排在 manager:{highest} 之后；审批流里上级的级别必须"
                                      "逐步升高")
        highest = max(highest, level)


def _manager_level(spec: str) -> int | None:
    if spec == "manager":
        return 1
    match = re.fullmatch(r"manager:([1-9])", spec)
    return int(match.group(1)) if match else None


def _deepest_manager_chain(users: tuple[UserConfig, ...]) -> int:
    """The most managers anyone has above them (loops are reported elsewhere; they stop the walk)."""
    managers = {u.id: u.manager for u in users}
    deepest = 0
    for u in users:
        seen, current = {u.id}, u.manager
        while current is not None and current in managers and current not in seen:
            seen.add(current)
            current = managers[current]
        deepest = max(deepest, len(seen) - 1)
    return deepest


def _read_steps(r: Reader, raw: Any, key: str, users: tuple[UserConfig, ...]) -> tuple[ApprovalStepConfig, ...]:
    if not isinstance(raw, list) or not raw:
        r.problem(key, '必须是非空的步骤数组，例如 steps = [{ approver = "manager" }]')
        return ()
    steps = []
    for j, s in enumerate(raw, start=1):
        p = f"{key}[{j}]."
        if not isinstance(s, Mapping):
            r.problem(f"{key}[{j}]", '必须是内联表，例如 { approver = "manager" }')
            continue
        r.unknown_keys(s, {"approver", "min_amount", "max_amount", "sla_hours"}, p)
        approver = r.str_(s, "approver", p)
        problem = approver_problem(approver, users)
        if problem:
            r.problem(f"{p}approver", problem)
        steps.append(
            ApprovalStepConfig(
                approver=approver,
                min_amount=r.number(s, "min_amount", p, None, float),
                max_amount=r.number(s, "max_amount", p, None, float),
                sla_hours=r.number(s, "sla_hours", p, None),
            )
        )
    return tuple(steps)


def approver_problem(spec: str, users: tuple[UserConfig, ...]) -> str | None:
    """Why an approver spec can never resolve, or None if it may."""
    if spec == "manager" or re.fullmatch(r"manager:[1-9]", spec):
        return None
    if spec.startswith("role:") and spec[5:]:
        if users and not any(u.role == spec[5:] for u in users):
            return f"没有哪个用户的 role 是 {spec[5:]!r}"
        return None
    if spec.startswith("user:") and spec[5:]:
        if users and not any(u.id == spec[5:] for u in users):
            return f"用户 {spec[5:]!r} 不存在：[[users]] 里没有这个 id{did_you_mean(spec[5:], [u.id for u in users])}"
        return None
    return f"不认识的审批人 {spec!r}；可以写 manager、manager:N、role:<角色> 或 user:<id>"


def read_sla(r: Reader, raw: Mapping[str, Any]) -> SlaConfig:
    t = r.table(raw, "sla")
    p = "sla."
    r.unknown_keys(t, {"todo_escalate_hours", "unclaimed_hours", "silent_remind_days", "silent_release_days"}, p)
    d = SlaConfig()
    cfg = SlaConfig(
        todo_escalate_hours=r.number(t, "todo_escalate_hours", p, d.todo_escalate_hours),
        unclaimed_hours=r.number(t, "unclaimed_hours", p, d.unclaimed_hours),
        silent_remind_days=r.number(t, "silent_remind_days", p, d.silent_remind_days),
        silent_release_days=r.number(t, "silent_release_days", p, d.silent_release_days),
    )
    for key in ("todo_escalate_hours", "unclaimed_hours", "silent_remind_days"):
        if getattr(cfg, key) < 1:
            r.problem(f"sla.{key}", f"不能小于 1，现在是 {getattr(cfg, key)}")
    if cfg.silent_release_days <= cfg.silent_remind_days:
        r.problem("sla.silent_release_days", f"必须大于 silent_remind_days（{cfg.silent_remind_days}），"
                                             f"现在是 {cfg.silent_release_days}")
    return cfg
