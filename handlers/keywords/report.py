"""`salesbot rules test` output: one JSON object a line, or (--explain) a Chinese reading of each line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # the C encoder json.dumps uses

from handlers.keywords.engine import KeywordEngine


def rules_test_report(engine: KeywordEngine, lines: Iterable[str]) -> Iterator[dict[str, object]]:
    """Yield {"text", "rules", "hits"} for each input line, in order (trailing newline removed)."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        hits = engine.scan(line)
        yield {
            "text": line,
            "rules": sorted({h.rule for h in hits}),
            "hits": [{"rule": h.rule, "keyword": h.keyword, "start": h.start, "end": h.end} for h in hits],
        }


def rules_test_json(engine: KeywordEngine, lines: Iterable[str],
                    labels: Mapping[str, str] | None = None) -> Iterator[str]:
    """Yield, per input line, exactly `json.dumps(report, ensure_ascii=False)` of rules_test_report's dict,
    with each rule's label (竞品威胁) as admins know it: a `labels` list beside `rules` and a `label` in each
    hit (fields only added, so scripts reading the earlier output keep working).

    Most lines fire nothing; their object is built around the encoded text alone, which makes the
    admin's tool as fast per line as the scan itself.
    """
    names = labels or {}
    for raw in lines:
        line = raw.rstrip("\r\n")
        hits = engine.scan(line)
        if not hits:
            yield '{"text": ' + encode_basestring(line) + ', "rules": [], "hits": [], "labels": []}'
            continue
        rules = sorted({h.rule for h in hits})
        yield json.dumps({
            "text": line,
            "rules": rules,
            "hits": [{"rule": h.rule, "keyword": h.keyword, "start": h.start, "end": h.end,
                      "label": names.get(h.rule, h.rule)} for h in hits],
            "labels": [names.get(r, r) for r in rules],
        }, ensure_ascii=False)


def explain_lines(engine: KeywordEngine, lines: Iterable[str], labels: Mapping[str, str]) -> Iterator[str]:
    """Yield, for each line, the line and one indented Chinese sentence per keyword occurrence and rule."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        fired = {(h.rule, h.start) for h in engine.scan(line)}
        readings = engine.explain(line)
        rules = sorted({r for r, _ in fired})
        verdict = "触发：" + "、".join(f"{labels.get(r, r)}（{r}）" for r in rules) if rules else "不触发任何规则"
        yield f"「{line}」 → {verdict}"
        if not readings:
            yield "  没有出现任何关键词"
        for r in readings:
            label = f"{labels.get(r.rule, r.rule)}（{r.rule}）"
            mark = "✔" if r.fired and (r.rule, r.start) in fired else "✘"
            reason = r.reason
            if r.fired and (r.rule, r.start) not in fired:
                reason = "已被同一规则更长的关键词覆盖，不重复计"
            yield f"  {mark} 第{r.start + 1}字「{r.keyword}」· {label}：{reason}"
