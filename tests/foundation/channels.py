"""A recording channel for tests: remembers every card it 'sent', can be told to fail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from handlers.model import Address, Card
from scheduler.delivery import DeliveryError


@dataclass
class RecordingChannel:
    name: str = "console"
    per_minute: int = 30
    failures: list[DeliveryError] = field(default_factory=list)  # raised first, in order
    on_send: Callable[[Card, Address], None] | None = None
    sent: list[tuple[Address, Card]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, card: Card, address: Address, now: datetime) -> str | None:
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
        if self.on_send is not None:
            self.on_send(card, address)
        with self._lock:
            self.sent.append((address, card))
        return f"ref-{len(self.sent)}"

    def titles(self) -> list[str]:
        return [card.title for _, card in self.sent]
