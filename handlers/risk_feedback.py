"""What the readers of risk cards tell back: 有用 / 误报 votes, 结案 outcomes, and the rules report.

- `有用 R12` / `误报 R12`: one vote per person per event (a second one changes it), stored with the
  rule, keyword and words, by anyone who may see the event.
- `结案 R12 <挽回|丢单|无影响> [说明]`: the owner or one of their managers closes the event; its result
  shows in the 「类似案例」 of later events of the same rule.
- `rules_report`: precision per rule from the votes, the keywords with most false alarms with their
  words, and a sense cue to copy into the config (the word most often next to the keyword in the
  false alarms) — for `salesbot rules report` and the weekly card to admins.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from handlers.commands import CommandCall, UsageError, parse_code, router
from handlers.context import Context
from handlers.keywords import KeywordEngine
from handlers.model import Card
from handlers.orgchart import managers_of, owner_of
from handlers.risk import RESULT_NAMES, may_see
from handlers.scanning import engine_for, quote_words
from storage import risks
from storage.models import Customer, RiskEvent, RiskVote
from storage.states import RiskStatus

VOTE_NAMES = {"useful": "有用", "false_alarm": "误报"}
RESULT_WORDS = {name: key for key, name in RESULT_NAMES.items()}
# Words too common to tell a sense apart: never suggested as a cue.
COMMON_WORDS = frozenset(
    "的 了 是 在 和 与 也 都 就 还 很 吗 呢 吧 啊 呀 哦 嘛 把 给 被 让 说 要 有 这 那 这个 那个 这边 那边 我 你 他 她 它 "
    "我们 你们 他们 咱们 一个 一下 一些 什么 怎么 可以 能 会 想 去 来 到 又 再 才 更 最 太 非常".split()
)
TOP_KEYWORDS = 5
SENTENCES_SHOWN = 3


# ---------------------------------------------------------------------------------------------- votes


@router.command("有用", "有用 <编号>", "这张风险卡片提醒得对：记一票「有用」（可改）")
def vote_useful(call: CommandCall) -> list[Card]:
    return _vote(call, "useful", "有用 R12")


@router.command("误报", "误报 <编号>", "这张风险卡片是误报：记一票「误报」（可改），帮助管理员调整关键词")
def vote_false_alarm(call: CommandCall) -> list[Card]:
    return _vote(call, "false_alarm", "误报 R12")


def _vote(call: CommandCall, verdict: str, hint: str) -> list[Card]:
    ctx = call.ctx
    event, customer = _event_of(call, hint)
    if event is None:
        return [call.reply("没有找到", f"没有编号为 {call.args.strip().upper()} 的风险。")]
    if call.user is None or not may_see(ctx, call.user, event, customer):
        return [call.reply("无权反馈", f"风险 {event.code} 不属于你负责或管理的客户。")]
    _row, before = risks.vote(ctx.session, event, call.user.id, verdict, ctx.now)
    name = VOTE_NAMES[verdict]
    if before == verdict:
        return [call.reply("已记录", f"你之前已经给 {event.code} 投了「{name}」。")]
    changed = f"（原来是「{VOTE_NAMES[before]}」）" if before else ""
    lines = [f"{event.code}「{event.label}」：记为「{name}」{changed}，谢谢反馈。"]
    if verdict == "false_alarm":
        lines.append("管理员会在每周的规则报告里看到这条原话，据此调整关键词。")
    return [call.reply("已记录", *lines, key=event.code)]


def _event_of(call: CommandCall, hint: str) -> tuple[RiskEvent | None, Customer | None]:
    first = call.words()[0] if call.words() else ""
    event = risks.get(call.ctx.session, parse_code(first, "R", hint))
    if event is None:
        return None, None
    customer = call.ctx.session.get(Customer, event.customer_id) if event.customer_id else None
    return event, customer


# ---------------------------------------------------------------------------------------------- 结案


@router.command("结案", "结案 <编号> <挽回|丢单|无影响> [说明]",
                "关闭一条风险并记下结果（客户负责人或其上级）；结果会出现在以后同类风险的「类似案例」里")
def close_risk(call: CommandCall) -> list[Card]:
    ctx = call.ctx
    words = call.words()
    if len(words) < 2 or words[1] not in RESULT_WORDS:
        raise UsageError("请写上编号和结果，例如「结案 R12 挽回 送了一次免费保养」；结果是 挽回、丢单 或 无影响。")
    event, customer = _event_of(call, "结案 R12 挽回")
    if event is None:
        return [call.reply("没有找到", f"没有编号为 {words[0].upper()} 的风险。")]
    owner = owner_of(ctx, customer) if customer is not None else None
    user = call.user
    allowed = user is not None and owner is not None and (
        user.id == owner.id or any(m.id == user.id for m in managers_of(ctx, owner)))
    if not allowed:
        return [call.reply("无权结案", f"只有客户负责人或其上级可以结案 {event.code}。")]
    assert user is not None
    if event.status != RiskStatus.OPEN:
        return [call.reply("已经结案", f"{event.code} 已经结案：{RESULT_NAMES.get(event.result or '', '—')}。")]
    note = " ".join(words[2:]) or None
    if not risks.close(ctx.session, event, RESULT_WORDS[words[1]], note, user.id, ctx.now):
        return [call.reply("已经结案", f"{event.code} 刚刚已被结案。")]
    lines = [f"{event.code}「{event.label}」已结案：{words[1]}。"]
    if note:
        lines.append(f"处理：{note}")
    return [call.reply("已结案", *lines, key=event.code)]


# ---------------------------------------------------------------------------------------------- report


@dataclass
class KeywordAlarms:
    rule: str
    keyword: str
    false_alarms: int
    sentences: list[str]
    cue: str | None


@dataclass
class RuleVotes:
    rule: str
    label: str
    useful: int = 0
    false_alarm: int = 0

    @property
    def precision(self) -> float | None:
        total = self.useful + self.false_alarm
        return self.useful / total if total else None


@dataclass
class RulesReport:
    since: datetime | None
    rules: list[RuleVotes] = field(default_factory=list)
    keywords: list[KeywordAlarms] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report in Chinese, one line a fact (the CLI prints them; the weekly card shows them)."""
        out = []
        if not self.rules:
            return ["这段时间没有人对风险卡片反馈「有用」或「误报」。"]
        out.append("各规则的准确率（按卡片反馈）：")
        for r in self.rules:
            precision = f"{r.precision:.0%}" if r.precision is not None else "—"
            out.append(f"· {r.label}（{r.rule}）：准确率 {precision}　有用 {r.useful} · 误报 {r.false_alarm}")
        if self.keywords:
            out.append("误报最多的关键词：")
        for k in self.keywords:
            out.append(f"· {k.rule} 的「{k.keyword}」：误报 {k.false_alarms} 次")
            out += [f"　原话：「{s}」" for s in k.sentences]
            if k.cue:
                out.append(f"　建议词义线索：在规则 {k.rule} 里加 senses = {{ \"{k.keyword}\" = [\"{k.cue}\"] }}"
                           f"（同一小句出现「{k.cue}」时不触发），再用 salesbot rules test --explain 试跑")
            else:
                out.append("　建议：看看原话，把常一起出现的词加进 senses 或 exclude")
        return out


def rules_report(ctx: Context, since: datetime | None) -> RulesReport:
    """Votes changed since `since` (all for None), summed per rule and per keyword."""
    votes = risks.votes_since(ctx.session, since)
    labels = {r.name: r.label for r in ctx.settings.rules}
    per_rule: dict[str, RuleVotes] = {}
    alarms: dict[tuple[str, str], list[RiskVote]] = {}
    for v in votes:
        r = per_rule.setdefault(v.rule, RuleVotes(v.rule, labels.get(v.rule, v.rule)))
        if v.vote == "useful":
            r.useful += 1
        else:
            r.false_alarm += 1
            alarms.setdefault((v.rule, v.keyword), []).append(v)
    engine = engine_for(ctx.settings)
    keywords = []
    for (rule, keyword), rows in sorted(alarms.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        texts = list(dict.fromkeys(v.text for v in rows))
        shown = [quote_words(t, [(m.start(), m.end()) for m in re.finditer(re.escape(keyword), t)], 60)
                 for t in texts[:SENTENCES_SHOWN]]
        keywords.append(KeywordAlarms(rule, keyword, len(rows), shown, suggest_cue(engine, keyword, texts)))
    rules = sorted(per_rule.values(), key=lambda r: (r.precision if r.precision is not None else 2, r.rule))
    return RulesReport(since, rules, keywords[:TOP_KEYWORDS])


def suggest_cue(engine: KeywordEngine, keyword: str, texts: Sequence[str]) -> str | None:
    """The word most often in the keyword's clause across the false alarms (once per sentence);
    ties go to the word nearest the keyword in the first sentence. None if no word qualifies."""
    counts: Counter[str] = Counter()
    nearest: dict[str, int] = {}
    for text in texts:
        seen = set()
        for word, distance in engine.neighbours(text, keyword):
            if word in COMMON_WORDS or word == keyword or keyword in word or not re.search("[\u4e00-\u9fff]", word):
                continue
            if word not in seen:
                counts[word] += 1
                seen.add(word)
            nearest[word] = min(nearest.get(word, distance), distance)
    if not counts:
        return None
    return min(counts, key=lambda w: (-counts[w], nearest[w], w))
