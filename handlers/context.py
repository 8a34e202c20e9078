"""What every handler receives: a database session, the settings and the current time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.settings import BusinessSettings


@dataclass
class Context:
    """One unit of handler work; cards posted through it join the same transaction."""

    session: Session
    settings: BusinessSettings
    now: datetime

