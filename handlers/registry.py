"""Every handler module, imported by name: the one list of what handles messages and events.

Commands (`@router.command`) and platform event handlers (`@on_event`) register when their module
is imported; this module imports each of them explicitly, so a module missing from the tree is an
import and type error, and tests/foundation/test_seams.py fails if a module that registers something
is not listed here. The words listeners (run over a customer's words or a rep's note) are listed here
too, rather than appending themselves to the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from handlers import (
    archive,
    contacts,
    customers,
    handover,
    leads_commands,
    leads_pool,
    org_events,
    risk,
    risk_feedback,
    scanning,
    todos,
)
from handlers.approvals import commands as approval_commands
from handlers.approvals import views as approval_views
from handlers.context import Context
from handlers.model import Card, InboundMessage
from handlers.opportunities import commands as opportunity_commands
from storage.models import Customer, Message

# Called with each stored message whose words should be scanned (a customer's words, a rep's note).
WordsListener = Callable[[Context, Message, Customer | None, InboundMessage], list[Card]]

HANDLER_MODULES: tuple[ModuleType, ...] = (customers, todos, risk, approval_commands, approval_views,
                                            contacts, org_events, archive, risk_feedback, leads_commands, leads_pool,
                                            handover, opportunity_commands)
WORDS_LISTENERS: tuple[WordsListener, ...] = (risk.scan_words,)
# Called once with a batch's stored messages (archived ones, handled many to a transaction) before the
# words listeners run over each: bulk lookups and locks the listeners then find done.
WordsBatchPreparer = Callable[[Context, list[tuple[Message, Customer | None, InboundMessage]]], None]
WORDS_BATCH_PREPARERS: tuple[WordsBatchPreparer, ...] = (risk.prepare_words_batch,)
# Run over each message before its write transaction opens (slow pure work, e.g. keyword scanning).
PREPARERS: tuple[Callable[[Any, InboundMessage], None], ...] = (scanning.prescan_message,)
