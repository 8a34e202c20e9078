"""Single-use DingTalk robot signatures: one (timestamp, sign) header pair carries one msgId."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.common import insert_ignore
from storage.models import RobotSignature


def claim_signature(session: Session, timestamp: str, sign: str, msg_id: str, now: datetime,
                    expires_at: datetime) -> bool:
    """True if the pair is new (now bound to `msg_id`) or already bound to `msg_id` (a DingTalk retry);
    False if another message already used it (a replay with a forged body).

    The insert-or-nothing on the primary key decides, so two workers racing cannot both bind the pair.
    Pairs past their window are deleted on the way: their timestamps fail the freshness check anyway.
    """
    session.execute(delete(RobotSignature).where(RobotSignature.expires_at < now))
    values = dict(timestamp=timestamp, sign=sign, msg_id=msg_id, expires_at=expires_at)
    if insert_ignore(session, RobotSignature, values, ["timestamp", "sign"]):
        return True
    bound = session.scalar(select(RobotSignature.msg_id).where(RobotSignature.timestamp == timestamp,
                                                               RobotSignature.sign == sign))
    return bound == msg_id
