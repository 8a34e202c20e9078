"""POST /api/leads and `salesbot leads import`: the same validation, clear refusals, no lead twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.cli import main
from tests.approvals.conftest import Chat, make_chat
from tests.leads.conftest import LEADS_TOML, all_leads

TOKEN = "marketing-token-0123456789"
LEAD = {"company": "星辰教育有限公司", "contact": "王老师", "phone": "13800000001", "industry": "K12",
        "budget": "30万", "region": "华东"}


def send(api: FlaskClient, body: object, token: str | None = TOKEN, key: str | None = None, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    return api.post("/api/leads", data=raw if raw is not None else json.dumps(body), headers=headers)


def test_a_posted_lead_is_assigned_and_named(api: FlaskClient, leads_chat: Chat) -> None:
    resp = send(api, LEAD, key="form-1")
    assert resp.status_code == 201
    assert resp.get_json() == {"code": "L1", "status": "assigned", "owner": "zhangsan", "repeated": False}
    [lead] = all_leads(leads_chat)
    assert (lead.source, lead.contact, lead.budget) == ("marketing", "王老师", 300000)
    leads_chat.deliver()
    assert any("新线索 L1" in t for t in leads_chat.texts_for("zhangsan"))


def test_the_same_idempotency_key_stores_one_lead(api: FlaskClient, leads_chat: Chat) -> None:
    assert send(api, LEAD, key="form-1").status_code == 201
    again = send(api, LEAD, key="form-1")
    assert again.status_code == 200 and again.get_json()["repeated"] is True
    assert send(api, {**LEAD, "key": "form-2", "company": "秋实学堂"}).status_code == 201
    assert send(api, {**LEAD, "key": "form-2", "company": "秋实学堂"}).status_code == 200
    assert len(all_leads(leads_chat)) == 2


@pytest.mark.parametrize("token, status", [(None, 401), ("", 401), ("wrong-token-0123456789", 403),
                                           ("marketing-token-012345678", 403), ("marketing-token-01234567890", 403)])
def test_a_missing_or_wrong_token_is_refused(api: FlaskClient, leads_chat: Chat, token: str | None,
                                             status: int) -> None:
    assert send(api, LEAD, token=token).status_code == status
    assert all_leads(leads_chat) == []


def test_a_token_cannot_submit_another_sources_leads(api: FlaskClient, leads_chat: Chat) -> None:
    resp = send(api, {**LEAD, "source": "expo"})
    assert resp.status_code == 403 and all_leads(leads_chat) == []
    assert send(api, {**LEAD, "source": "expo"}, token="expo-token-0123456789abcd").status_code == 201


@pytest.mark.parametrize("body, field", [
    (None, "body"), ([1, 2], "body"), ({"contact": "王"}, "company"), ({**LEAD, "phone": "12ab"}, "phone"),
    ({**LEAD, "budget": "很多"}, "budget"), ({**LEAD, "colour": "red"}, "colour"), ({**LEAD, "company": "x" * 201}, "company"),
    ({**LEAD, "company": {"a": 1}}, "company"),
])
def test_a_bad_body_is_400_naming_the_field(api: FlaskClient, leads_chat: Chat, body: object, field: str) -> None:
    resp = send(api, body)
    assert resp.status_code == 400 and resp.get_json()["message"].startswith(f"{field}: ")
    assert all_leads(leads_chat) == []


def test_not_json_is_400_and_too_large_is_413(api: FlaskClient, leads_chat: Chat) -> None:
    assert send(api, None, raw=b"{not json").status_code == 400
    assert send(api, None, raw=b"\xff\xfe").status_code == 400
    big = json.dumps({**LEAD, "notes": "长" * 600_000}).encode()
    assert send(api, None, raw=big).status_code == 413
    assert all_leads(leads_chat) == []


def test_over_the_rate_limit_is_429(write_config: Callable[..., Path], engine: Engine,
                                    factory: sessionmaker[Session]) -> None:
    tight = make_chat(write_config, engine, factory, LEADS_TOML.replace("daily_cap = 5", "daily_cap = 5\napi_per_minute = 2"))
    client = create_app(runtime=tight.runtime, clock=lambda: tight.now).test_client()
    codes = [send(client, {**LEAD, "company": name}).status_code for name in ("甲骨", "乙烯", "丙辰")]
    assert codes == [201, 201, 429]
    tight.now += timedelta(minutes=1, seconds=1)
    client = create_app(runtime=tight.runtime, clock=lambda: tight.now).test_client()
    assert send(client, {**LEAD, "company": "丁香"}).status_code == 201


CSV = """公司,联系人,电话,行业,预算,区域
星辰教育有限公司,王老师,13800000001,K12,30万,华东
远航机床,李工,12ab,制造,,华东
秋实学堂,赵老师,13800000003,K12,很多,华东
冬青书院,钱老师,13800000004,K12,,华东
"""


def test_csv_import_reports_bad_rows_and_imports_the_rest_once(leads_chat: Chat, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(CSV, encoding="utf-8-sig")
    config = leads_chat.runtime.settings.source
    at = leads_chat.now.isoformat()
    assert main(["leads", "import", str(path), "--config", config, "--at", at]) == 1
    out = capsys.readouterr()
    assert "第3行「电话」列" in out.err and "第4行「预算」列" in out.err
    assert json.loads(out.out.strip().splitlines()[-1]) == {"imported": 2, "repeated": 0, "bad": 2}
    assert [(lead.company, lead.source) for lead in all_leads(leads_chat)] == [("星辰教育有限公司", "csv"),
                                                                             ("冬青书院", "csv")]
    assert main(["leads", "import", str(path), "--config", config, "--at", at]) == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"imported": 0, "repeated": 2, "bad": 2}
    assert len(all_leads(leads_chat)) == 2


def test_csv_with_english_headers_and_an_unknown_column(leads_chat: Chat, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "en.csv"
    path.write_text("company,phone,industry,colour\nAcme,13800000009,K12,red\n", encoding="utf-8")
    config = leads_chat.runtime.settings.source
    assert main(["leads", "import", str(path), "--config", config]) == 1
    assert "第1行「colour」列：不认识的列名" in capsys.readouterr().err
    path.write_text("Company,Phone,Industry,Source\nAcme,13800000009,K12,expo\n", encoding="utf-8")
    assert main(["leads", "import", str(path), "--config", config]) == 0
    assert [(lead.company, lead.source) for lead in all_leads(leads_chat)] == [("Acme", "expo")]
