"""The conversation archive: `salesbot archive import`, pulls on msgaudit_notify resuming from the stored
seq, and the Finance SDK source over ctypes (against a fake library compiled here with gcc)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.runtime import Runtime, SettingsHolder, sync_directory
from bot.wecom_archive import archive_record, decode_archive_message
from handlers import archive, pipeline
from handlers.archive import ArchiveRecord, ArchiveUnavailable, inbound_message
from storage import customers as repo
from storage.db import make_engine, make_session_factory, transaction
from storage.models import Cursor, InboundItem, Message
from tests.conftest import NOW
from tests.wecom import fake_finance_sdk
from tests.wecom.conftest import CORP_ID, Sender, run_jobs, wecom_toml

SAMPLE = Path(__file__).parents[1] / "data" / "wecom_archive_sample.jsonl"
HUAWEI = "wmHUAWEI000000000000000000000001"
LINES = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def archive_message(data, members):
    """A raw archive line as the pipeline receives it: decoded at the edge, then judged by the handler."""
    archived = decode_archive_message(data)
    return None if archived is None else inbound_message(archived, members)


@pytest.fixture
def huawei(runtime) -> int:
    """A customer known by its WeCom contact, owned by zhangsan (as add_external_contact leaves it)."""
    with transaction(runtime.factory) as s:
        customer = repo.create(s, "华为技术有限公司", "zhangsan", NOW, "test")
        repo.add_identity(s, customer, "wecom", HUAWEI, "李明")
        return customer.id


@pytest.fixture
def scanned() -> Iterator[list[tuple[str, bool]]]:
    """Every message handed to the words listeners (the keyword engine's hook): (text, from_customer)."""
    seen: list[tuple[str, bool]] = []

    def spy(ctx, stored, customer, msg):
        seen.append((msg.text, msg.from_customer))
        return []

    pipeline.words_listeners.append(spy)
    yield seen
    pipeline.words_listeners.remove(spy)


def timeline(runtime) -> list[Message]:
    with runtime.factory() as s:
        return list(s.scalars(select(Message).order_by(Message.sent_at)))


# ---------------------------------------------------------------------------------------------- mapping


def test_archive_messages_map_to_the_pipeline():
    members = {"zhangsan", "lisi"}
    customer, rep, recall, internal, image, room = (archive_message(d, members) for d in LINES)
    assert customer.from_customer and customer.conversation == HUAWEI and customer.source == "archive"
    assert customer.text == "你们的报价太贵了，友商那边便宜两成" and customer.time.isoformat() == "2026-11-02T08:30:00+00:00"
    assert not rep.from_customer and rep.conversation == HUAWEI and rep.sender == "zhangsan"
    assert recall is None and internal is None  # not customer chat messages
    assert image.text == "[图片]" and image.msg_type == "image"
    assert room.conversation == "wrHUAWEIROOM0001" and room.conversation_type == "group" and room.from_customer


def test_an_employee_whose_id_starts_like_an_external_one_is_not_a_customer():
    msg = archive_message({**LINES[1], "from": "wonglei"}, {"wonglei"})
    assert msg is None or not msg.from_customer


@pytest.mark.parametrize("bad", [{"action": "send"}, {"msgid": "x", "from": "wm1", "msgtime": "yesterday"}, []])
def test_malformed_records_are_reported(bad):
    with pytest.raises(ValueError):
        decode_archive_message(bad)


# ---------------------------------------------------------------------------------------------- import


def test_archive_import_cli(write_config, fake_wecom, runtime, channels, huawei, scanned, tmp_path, capsys):
    from bot.cli import main

    config = write_config(wecom_toml(fake_wecom.api_base))
    bad = tmp_path / "export.jsonl"
    bad.write_text(SAMPLE.read_text(encoding="utf-8") + "not json\n", encoding="utf-8")
    assert main(["archive", "import", str(bad), "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert "4 new messages, 0 already stored, 2 skipped" in out.out and "export.jsonl:7" in out.err
    stored = timeline(runtime)
    assert [(m.text[:6], m.from_customer, m.customer_id, m.source) for m in stored] == [
        ("你们的报价太", True, huawei, "archive"),
        ("我跟领导申请", False, huawei, "archive"),
        ("[图片]", True, huawei, "archive"),
        ("我们在考虑换", True, huawei, "archive"),
    ]
    # the customer's words are scanned; the rep's own words only go on the timeline
    assert ("我跟领导申请一下优惠，今天给您回复", False) not in scanned
    assert {t for t, _ in scanned} >= {"你们的报价太贵了，友商那边便宜两成", "我们在考虑换供应商"}
    assert all(from_customer for _, from_customer in scanned)

    assert main(["archive", "import", str(SAMPLE), "--config", str(config)]) == 0
    assert "0 new messages, 4 already stored" in capsys.readouterr().out
    assert len(timeline(runtime)) == 4


def test_archive_import_of_a_missing_file_says_so(write_config, fake_wecom, runtime, channels):
    from bot.cli import main

    config = write_config(wecom_toml(fake_wecom.api_base))
    with pytest.raises(SystemExit, match="cannot read"):
        main(["archive", "import", "/nonexistent/file.jsonl", "--config", str(config)])


# ---------------------------------------------------------------------------------------------- pulling


class FakeSource:
    """An ArchiveSource over a list, recording where each fetch started."""

    name = f"wecom:archive:{CORP_ID}"

    def __init__(self, records: list[ArchiveRecord]) -> None:
        self.records = records
        self.fetched_after: list[int] = []
        self.down = False

    def fetch(self, after_seq: int, limit: int) -> list[ArchiveRecord]:
        self.fetched_after.append(after_seq)
        if self.down:
            raise ArchiveUnavailable("archive server unreachable")
        return [r for r in self.records if r.seq > after_seq][:limit]


@pytest.fixture
def source(channels) -> Iterator[FakeSource]:
    fake = FakeSource([archive_record(i, line) for i, line in enumerate(LINES[:2], 1)])
    archive.register_source("wecom", lambda: fake, batch_size=100)
    yield fake


def test_msgaudit_notify_pulls_and_resumes_from_the_stored_seq(sender, runtime, channels, source, huawei,
                                                                scanned, clock):
    sender.event("msgaudit_notify", AgentID="218")
    run_jobs(runtime, channels, clock())  # handles the notify: pulls and stores the messages
    run_jobs(runtime, channels, clock())  # handles the pulled messages
    assert source.fetched_after == [0]
    assert [m.text[:6] for m in timeline(runtime)] == ["你们的报价太", "我跟领导申请"]
    assert scanned == [("你们的报价太贵了，友商那边便宜两成", True)]

    source.records += [archive_record(3, LINES[4]), archive_record(4, LINES[5])]
    clock.advance(seconds=20)
    sender.event("msgaudit_notify", AgentID="218")
    run_jobs(runtime, channels, clock())
    run_jobs(runtime, channels, clock())
    assert source.fetched_after == [0, 2]
    assert len(timeline(runtime)) == 4
    with runtime.factory() as s:
        assert s.get(Cursor, source.name).position == 4


def test_a_lost_notify_is_made_up_by_the_tick(runtime, channels, source, huawei, clock):
    from scheduler.jobs import run_tick

    # no msgaudit_notify ever arrives; the scheduled safety pull still reads the archive
    lines = run_tick(runtime.factory, runtime.settings, clock())
    assert any(line.startswith("archive_pull: wecom: 2 new messages") for line in lines)
    run_jobs(runtime, channels, clock())
    assert len(timeline(runtime)) == 2
    assert not any(line.startswith("archive_pull") for line in run_tick(runtime.factory, runtime.settings, clock()))
    source.down = True  # an unreachable archive does not fail the tick
    assert not any("failed" in line for line in run_tick(runtime.factory, runtime.settings, clock()))


def test_pull_is_idempotent_on_msgid(runtime, source):
    from handlers.archive import pull_archive

    first = pull_archive(runtime.factory, "wecom", source, NOW)
    with transaction(runtime.factory) as s:  # a source that starts over hands the same messages again
        s.get(Cursor, source.name).position = 0
    second = pull_archive(runtime.factory, "wecom", source, NOW)
    assert (first.stored, second.stored, second.duplicates) == (2, 0, 2)


def test_undecryptable_messages_are_skipped_and_the_cursor_moves_on(runtime, source):
    from handlers.archive import pull_archive

    source.records.insert(1, ArchiveRecord(2, None, "bad key"))
    source.records[2] = archive_record(3, LINES[1])
    report = pull_archive(runtime.factory, "wecom", source, NOW)
    assert (report.stored, report.undecryptable, report.last_seq) == (2, 1, 3)


def test_unreachable_archive_retries_the_notify(sender, runtime, channels, source, clock):
    source.down = True
    sender.event("msgaudit_notify", AgentID="218")
    run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        item = s.scalars(select(InboundItem)).one()
    assert item.status == "pending" and "ArchiveUnavailable" in item.error
    source.down = False
    clock.advance(minutes=2)
    run_jobs(runtime, channels, clock())
    run_jobs(runtime, channels, clock())
    assert len(timeline(runtime)) == 2


def test_notify_without_a_configured_source_is_acknowledged(sender, runtime, channels, clock):
    sender.event("msgaudit_notify", AgentID="218")
    run_jobs(runtime, channels, clock())
    with runtime.factory() as s:
        assert s.scalars(select(InboundItem)).one().status == "done"


# ---------------------------------------------------------------------------------------------- Finance SDK

needs_gcc = pytest.mark.skipif(not fake_finance_sdk.gcc_available(), reason="gcc is not installed")


@pytest.fixture
def sdk(tmp_path) -> fake_finance_sdk.FakeSdk:
    return fake_finance_sdk.build(tmp_path, CORP_ID, "archive-secret", LINES[:2] + LINES[4:], corrupt_seqs=(3,))


@needs_gcc
def test_finance_sdk_source_decrypts_through_ctypes(sdk):
    from bot.wecom_archive import FinanceSdkSource, load_private_key

    source = FinanceSdkSource(str(sdk.path), load_private_key(str(sdk.private_key_path)), CORP_ID, "archive-secret")
    records = source.fetch(0, 10)
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert records[0].message == decode_archive_message(LINES[0])
    assert records[1].message == decode_archive_message(LINES[1])
    assert records[2].message is None and records[2].error  # the corrupt key is reported, not fatal
    assert records[3].message == decode_archive_message(LINES[5])
    assert [r.seq for r in source.fetch(2, 1)] == [3] and sdk.last_seq == 2
    sdk.fail_next(1)
    with pytest.raises(ArchiveUnavailable, match="GetChatData failed"):
        source.fetch(0, 10)
    source.close()


@needs_gcc
def test_finance_sdk_init_failure_is_clear(sdk):
    from bot.wecom_archive import FinanceSdkSource, load_private_key

    with pytest.raises(ArchiveUnavailable, match="Init failed"):
        FinanceSdkSource(str(sdk.path), load_private_key(str(sdk.private_key_path)), CORP_ID, "wrong-secret")
    with pytest.raises(ArchiveUnavailable, match="cannot load"):
        FinanceSdkSource("/nonexistent/libWeWorkFinanceSdk_C.so", load_private_key(str(sdk.private_key_path)),
                         CORP_ID, "archive-secret")


@needs_gcc
def test_msgaudit_notify_pulls_through_the_configured_sdk(sdk, write_config, fake_wecom, huawei, clock):
    from bot.app import create_app
    from bot.channels import build_channels, wire_services
    from bot.wecom_crypto import WeComCrypto
    from tests.wecom.conftest import AES_KEY, TOKEN

    extra = (f'[wecom.archive]\nsdk_path = "{sdk.path}"\nprivate_key_path = "{sdk.private_key_path}"\n'
             'secret = "archive-secret"\nbatch_size = 2\n')
    settings = load_settings(write_config(wecom_toml(fake_wecom.api_base, extra=extra), name="archive.toml"),
                             environ={})
    engine = make_engine(settings.database.url)
    runtime = Runtime(SettingsHolder(settings), engine, make_session_factory(engine))
    sync_directory(runtime)
    channels = build_channels(settings, runtime.factory)
    wire_services(settings, runtime.factory)
    try:
        app = create_app(runtime=runtime, clock=clock)
        sender = Sender(app.test_client(), WeComCrypto(TOKEN, AES_KEY, CORP_ID), clock)
        assert sender.event("msgaudit_notify", AgentID="218").status_code == 200
        run_jobs(runtime, channels, clock())
        run_jobs(runtime, channels, clock())
        assert [m.text[:6] for m in timeline(runtime)] == ["你们的报价太", "我跟领导申请", "我们在考虑换"]
        assert sdk.last_seq == 4  # batches of 2: after 0, after 2, then an empty read after 4
        with runtime.factory() as s:
            assert s.get(Cursor, f"wecom:archive:{CORP_ID}").position == 4
    finally:
        archive.register_source("wecom", None)
        from handlers import contacts

        contacts.register_directory("wecom", None)
        engine.dispose()
