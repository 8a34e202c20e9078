"""Migration 0003 normalises customer names stored before names were normalised on the way in."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine, upgrade


def test_existing_look_alike_names_are_normalised(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0002")
    with engine.begin() as conn:
        for i, name in enumerate(["华\u200b为  科技", "ＡＢＣ科技", "比亚迪"], start=1):
            conn.execute(text("INSERT INTO customers (id, name, stage, status, silence_level, created_at, "
                              "updated_at, last_activity_at) VALUES (:i, :n, 'lead', 'active', 0, "
                              "'2026-01-01', '2026-01-01', '2026-01-01')"), {"i": i, "n": name})
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.scalars(text("SELECT name FROM customers ORDER BY id")).all() == ["华为 科技", "ABC科技", "比亚迪"]
    engine.dispose()
