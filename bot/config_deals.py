"""[[stages]] (opportunity stages), [report] (the weekly process-health report) and [board] (the web board)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.config_messages import entry_label, one_of, unknown_key_message
from bot.config_reader import Reader
from handlers.settings import DEFAULT_STAGES, DEFAULT_THRESHOLDS, HandoffConfig, ReportConfig, StageConfig


@dataclass(frozen=True)
class BoardConfig:
    """[board]: the web board's signing secret and how long a login link and a session last."""

    secret: str = ""
    link_minutes: int = 10
    session_hours: int = 12


_STAGE_KEYS = {"name", "evidence", "max_days", "on_enter", "customer_stage", "outcome", "reasons"}
CUSTOMER_STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
STAGE_OUTCOMES = ("won", "lost")


def read_stages(r: Reader, raw: Mapping[str, Any]) -> tuple[StageConfig, ...]:
    """[[stages]]: the opportunity stages in order; absent, the built-in ones (需求确认 … 赢单 / 输单)."""
    if "stages" not in raw:
        return DEFAULT_STAGES
    items = raw["stages"]
    if not isinstance(items, list) or not items:
        r.problem("stages", "必须写成表数组：每个阶段一段 [[stages]]")
        return DEFAULT_STAGES
    stages: list[StageConfig] = []
    for i, t in enumerate(items, start=1):
        label = entry_label("stages", i, t, "name")
        if not isinstance(t, Mapping):
            r.problem(label, "必须是一个表（[[stages]] 段）")
            continue
        stage = _read_stage(r, t, f"{label}.")
        if any(s.name == stage.name for s in stages):
            r.problem(f"{label}.name", f"阶段名 {stage.name!r} 重复（每个阶段只能定义一次）")
        stages.append(stage)
    for outcome, zh in (("won", "赢单"), ("lost", "输单")):
        if sum(s.outcome == outcome for s in stages) != 1:
            r.problem("stages", f'必须恰好有一个 outcome = "{outcome}" 的阶段（{zh}）')
    return tuple(stages)


def _read_stage(r: Reader, t: Mapping[str, Any], p: str) -> StageConfig:
    r.unknown_keys(t, _STAGE_KEYS, p)
    name = r.str_(t, "name", p)
    if not name:
        r.problem(f"{p}name", "必须填写（阶段名称，例如「价格谈判」）")
    outcome = r.str_(t, "outcome", p)
    if outcome and outcome not in STAGE_OUTCOMES:
        r.problem(f"{p}outcome", f"只能是 {one_of(STAGE_OUTCOMES)} 或不写，现在是 {outcome!r}")
    customer_stage = r.str_(t, "customer_stage", p)
    if customer_stage and customer_stage not in CUSTOMER_STAGES:
        r.problem(f"{p}customer_stage", f"只能是 {one_of(CUSTOMER_STAGES)}，现在是 {customer_stage!r}")
    reasons = r.str_list(t, "reasons", p)
    if outcome == "lost" and not reasons:
        r.problem(f"{p}reasons", '输单阶段至少要有一个输单原因，例如 ["价格", "竞品"]')
    return StageConfig(name=name, evidence=r.str_list(t, "evidence", p), max_days=r.number(t, "max_days", p, 0),
                       on_enter=_read_handoffs(r, t.get("on_enter", []), f"{p}on_enter"),
                       customer_stage=customer_stage, outcome=outcome, reasons=reasons)


def _read_handoffs(r: Reader, raw: Any, key: str) -> tuple[HandoffConfig, ...]:
    if not isinstance(raw, list) or not all(isinstance(h, Mapping) for h in raw):
        r.problem(key, '必须是数组，例如 [{ role = "delivery", title = "实施资源预约" }]')
        return ()
    out = []
    for i, h in enumerate(raw, start=1):
        p = f"{key}[{i}]."
        r.unknown_keys(h, {"role", "title"}, p)
        role, title = r.str_(h, "role", p), r.str_(h, "title", p)
        if not role:
            r.problem(f"{p}role", "必须填写（谁来认领这条待办，例如 delivery）")
        if not title:
            r.problem(f"{p}title", "必须填写（待办标题，例如「实施资源预约」）")
        out.append(HandoffConfig(role=role, title=title))
    return tuple(out)


def read_report(r: Reader, raw: Mapping[str, Any]) -> ReportConfig:
    t = r.table(raw, "report")
    p = "report."
    r.unknown_keys(t, {"weekday", "hour", "thresholds", "proposal_stages"}, p)
    d = ReportConfig()
    weekday, hour = r.number(t, "weekday", p, d.weekday), r.number(t, "hour", p, d.hour)
    if not 1 <= weekday <= 7:
        r.problem("report.weekday", f"必须是 1 到 7（1 是周一，5 是周五），现在是 {weekday}")
    if not 0 <= hour <= 23:
        r.problem("report.hour", f"必须是 0 到 23 点，现在是 {hour}")
    limits = dict(DEFAULT_THRESHOLDS)
    table = r.table(t, "report.thresholds")
    for key, value in table.items():
        k = f"report.thresholds.{key}"
        if key not in DEFAULT_THRESHOLDS:
            r.problem(k, unknown_key_message(key, set(DEFAULT_THRESHOLDS)))
        elif (not isinstance(value, list) or len(value) != 2
              or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)):
            r.problem(k, f"必须是两个非负数 [绿线, 黄线]，例如 [0.85, 0.7]，现在是 {value!r}")
        else:
            limits[key] = (float(value[0]), float(value[1]))
    return ReportConfig(weekday=weekday, hour=hour, thresholds=tuple((k, g, y) for k, (g, y) in limits.items()),
                        proposal_stages=_read_proposal_stages(r, t, raw))


def _read_proposal_stages(r: Reader, t: Mapping[str, Any], raw: Mapping[str, Any]) -> tuple[str, ...]:
    """[report] proposal_stages: the two stages 方案定制周期 runs between, in order (absent: the first two)."""
    if "proposal_stages" not in t:
        return ()
    chosen = r.str_list(t, "proposal_stages", "report.")
    if not chosen and t["proposal_stages"] != []:
        return ()  # str_list said what is wrong
    items = raw.get("stages")
    names = ([str(s.get("name", "")) for s in items if isinstance(s, Mapping)] if isinstance(items, list)
             else [s.name for s in DEFAULT_STAGES])
    if len(chosen) != 2 or chosen[0] == chosen[1]:
        r.problem("report.proposal_stages", f'必须是两个不同的阶段名 [起, 止]，例如 ["需求确认", "方案提交"]，现在是 {list(chosen)!r}')
        return ()
    unknown = [c for c in chosen if c not in names]
    if unknown:
        r.problem("report.proposal_stages", f"{unknown[0]!r} 不是 [[stages]] 里的阶段（现有：{'、'.join(names)}）")
        return ()
    return tuple(chosen)


def read_board(r: Reader, raw: Mapping[str, Any]) -> BoardConfig:
    t = r.table(raw, "board")
    p = "board."
    r.unknown_keys(t, {"secret", "link_minutes", "session_hours"}, p)
    d = BoardConfig()
    cfg = BoardConfig(secret=r.str_(t, "secret", p, d.secret),
                      link_minutes=r.number(t, "link_minutes", p, d.link_minutes),
                      session_hours=r.number(t, "session_hours", p, d.session_hours))
    if cfg.secret and len(cfg.secret) < 16:
        r.problem("board.secret", f"太短（{len(cfg.secret)} 个字符），至少 16 个字符，建议用随机生成的长字符串")
    for key in ("link_minutes", "session_hours"):
        if getattr(cfg, key) < 1:
            r.problem(f"board.{key}", f"不能小于 1，现在是 {getattr(cfg, key)}")
    return cfg
