"""Many rows in one PostgreSQL INSERT as one JSON document (json_populate_recordset).

A multi-row VALUES of thousands of parameters (an archive pull's inbound items, a batch's timeline)
costs psycopg more to parse than the server to insert, an executemany a round of Python per row, and
an array of JSON texts more to escape: one JSON text parameter costs one json.dumps. The statement's
text depends only on the table and the columns, so it is built (and parsed by psycopg) once. The server
turns the document's strings into text, so a string must hold no NUL (text cannot): the batch path
strips NUL and lone surrogates from the words, as the one-by-one path does (handlers.pipeline).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, TextClause, text


@cache
def insert_json_rows(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], returning: str) -> TextClause:
    """INSERT … SELECT FROM json_populate_recordset(:rows) ON CONFLICT (conflict) DO NOTHING RETURNING
    `returning`, the rows inserted in the order given (WITH ORDINALITY)."""
    names = ", ".join(columns)
    return text(
        f"INSERT INTO {table.name} ({names}) SELECT {names} "  # noqa: S608 - names from the table, not input
        f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json)) WITH ORDINALITY AS r "
        f"ORDER BY r.ordinality ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {returning}")


def json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as the JSON the statement reads; times as naive UTC, the way UTCDateTime stores them."""
    return json.dumps([{k: _naive_utc(v) if isinstance(v, datetime) else v for k, v in r.items()} for r in rows])


def _naive_utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()
