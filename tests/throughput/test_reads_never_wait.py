"""Reads go without the write lock: /healthz answers while another process holds a write transaction."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL


@pytest.mark.skipif(bool(PG_URL), reason="the write lock is SQLite's")
def test_healthz_answers_while_a_write_transaction_is_open(runtime, client):
    answered = threading.Event()
    with runtime.engine.connect() as writer:
        writer.execute(text("UPDATE users SET name = name"))  # BEGIN IMMEDIATE: the write lock is held
        thread = threading.Thread(target=lambda: client.get("/healthz").status_code == 200 and answered.set())
        thread.start()
        held = answered.wait(5)  # without the fix /healthz waits for the busy timeout (30 s)
        writer.rollback()
    thread.join(40)
    assert held
