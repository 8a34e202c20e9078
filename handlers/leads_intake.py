"""Lead intake beyond chat: a CSV file, a JSON body, a WeCom channel QR code — one validation each.

CSV rows are reported as `第N行` counting the header as line 1, with the column as its header reads.
A row's idempotency key is a digest of its values, so importing the same file twice imports nothing
the second time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers import outbox
from handlers.context import Context
from handlers.leads import FIELD_NAMES, Intake, LeadInput, LeadProblem, field_name, give, take_lead, validate
from handlers.model import Card
from storage import leads as repo
from storage.models import Customer, User


@dataclass
class CsvReport:
    """What an import did: leads stored, rows seen before, and one line per bad row."""

    imported: list[Intake] = field(default_factory=list)
    repeated: int = 0
    problems: list[str] = field(default_factory=list)


def read_csv(text: str, default_source: str) -> tuple[list[tuple[int, LeadInput]], list[str]]:
    """Validated rows with their line numbers, and `第N行` problems (the header is line 1)."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or not any(c.strip() for c in rows[0]):
        return [], ["第1行：没有表头（需要 company/公司 等列名）"]
    headers = rows[0]
    names = [field_name(h) for h in headers]
    problems = [f"第1行「{h}」列：不认识的列名" for h, n in zip(headers, names, strict=True) if n is None]
    if "company" not in names:
        problems.append("第1行：缺少 company（公司）列")
    if problems:
        return [], problems
    good: list[tuple[int, LeadInput]] = []
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(headers):
            problems.append(f"第{line}行：比表头多 {len(cells) - len(headers)} 列")
            continue
        raw = {n: c for n, c in zip(names, cells, strict=False) if n}
        try:
            good.append((line, validate(raw, default_source, client_key=row_key(raw))))
        except LeadProblem as exc:
            column = headers[names.index(exc.field)] if exc.field in names else FIELD_NAMES.get(exc.field, exc.field)
            problems.append(f"第{line}行「{column}」列：{exc}")
    return good, problems


def row_key(raw: Mapping[str, Any]) -> str:
    """The same row (same values, whatever the column order) gives the same key."""
    canonical = json.dumps({k: str(v).strip() for k, v in sorted(raw.items())}, ensure_ascii=False)
    return "csv:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def import_rows(ctx: Context, rows: list[tuple[int, LeadInput]], actor: str, report: CsvReport) -> None:
    """Take every good row (its cards are queued in the same transaction)."""
    for _line, data in rows:
        intake = take_lead(ctx, data, actor)
        if intake.created:
            report.imported.append(intake)
            outbox.post(ctx, intake.cards)
        else:
            report.repeated += 1


def take_json(ctx: Context, source: str, body: Any, client_key: str | None) -> Intake:
    """A lead POSTed by an intake source; raise LeadProblem for a bad body."""
    if not isinstance(body, Mapping):
        raise LeadProblem("body", "请求体必须是 JSON 对象")
    fields = {k: v for k, v in body.items() if k not in ("key", "idempotency_key")}
    key = client_key or body.get("key") or body.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 128):
        raise LeadProblem("key", "幂等键必须是 1–128 个字符的字符串")
    data = validate(fields, source, client_key=key)
    if data.source != source:
        raise PermissionError(f"this token may only submit leads of source {source!r}")
    intake = take_lead(ctx, data, f"api:{source}")
    outbox.post(ctx, intake.cards)
    return intake


def lead_from_channel(ctx: Context, customer: Customer, rep: User, state: str) -> list[Card]:
    """A customer added a rep through a channel QR code (`State`): a lead of that source, the rep's."""
    data = validate({"company": customer.name}, state[:64], client_key=f"contact:{customer.id}")
    lead = repo.add(ctx.session, data.values(), ctx.now)
    if lead is None:
        return []
    why = f"客户通过渠道码「{state}」添加了 {rep.name}，线索归 {rep.name}"
    return give(ctx, lead, rep.id, f"wecom:{state}", {"rule": "channel", "picked": rep.id, "why": why}, customer)
