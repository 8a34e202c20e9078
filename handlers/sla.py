"""What the SLA checks share: due rows read batch after batch, the directory held in memory, level names.

Each check reads only what is due (open rows whose `next_check_at` has come, or active customers whose
last activity is older than a cut-off) and claims each escalation level by a conditional UPDATE naming
the level it moves from, so two ticks or two workers cannot both act; the cards carry a per-level
dedupe key as a second guard. Card texts name the level and the waiting time because DingTalk silently
drops identical content sent to the same person twice a day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.orm import Session

from storage import directory
from storage.models import ApprovalStep, Customer, Todo, User

BATCH = 200
MAX_PER_TICK = 5000  # keeps one tick bounded; whatever is left is still due at the next tick
LEVEL_NAMES = {1: "一级", 2: "二级", 3: "三级", 4: "四级", 5: "五级"}
Row = TypeVar("Row", ApprovalStep, Todo, Customer)


def due_rows(fetch: Callable[[], Sequence[Row]], key: Callable[[Row], object]) -> Iterator[Row]:
    """Rows from `fetch` batch after batch until none is due, at most MAX_PER_TICK, each row once."""
    seen: set[object] = set()
    while len(seen) < MAX_PER_TICK:
        fresh = [row for row in fetch() if key(row) not in seen]
        if not fresh:
            return
        for row in fresh:
            seen.add(key(row))
            yield row


@contextmanager
def directory_pinned(session: Session) -> Iterator[list[User]]:
    """Hold every user in memory for the duration of a check: the session's identity map is weak, and
    each card looks up approvers, owners and managers again (the directory is small, the checks are not)."""
    users = directory.all_users(session)  # a local: kept alive until the check ends
    yield users


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, f"{level}级")
