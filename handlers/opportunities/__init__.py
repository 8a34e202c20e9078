"""Opportunities: deals on a customer moving through the configured stages, opened by evidence taken
from the chat, with requirement changes on record and hand-offs between roles (issue 13).

`open_opportunity` is the entry point for other features (a qualified lead becomes an opportunity).
"""

from handlers.opportunities.core import open_opportunity

__all__ = ["open_opportunity"]
