"""Make the text of a Card inert for the format it is rendered in.

A Card's title, lines and fields quote people: customers' words, reps' notes, names, reasons. In
DingTalk and WeCom markdown a quoted `[点此](dtmd://dingtalkclient/sendMessage?content=同意%20A2)` would
become a one-tap link that makes the reader's own client send `同意 A2`. Neither markdown subset
documents an escape character, so the link syntax is replaced by look-alike full-width characters
instead of being escaped. Only the renderer's own buttons and the card's own link are ever links: the
renderers pass every title, line and field through here and add those afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from handlers.model import Card

# Brackets and parentheses make links and images ([x](u), ![x](u), [x][ref]); angle brackets make
# autolinks (<http://…>) and HTML (<a href>, WeCom's <font>).
_MARKDOWN_INERT = str.maketrans({"[": "【", "]": "】", "(": "（", ")": "）", "<": "＜", ">": "＞"})
# A scheme followed by a colon (http:, dtmd:, javascript:…) is what clients turn into a live link,
# also in plain text; a full-width colon keeps it readable and dead.
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{1,30}):(?=\S)")
# Headings and quotes start a line; a quoted line must not pose as the card's own structure.
_LINE_START = re.compile(r"^([ \t]*)([#>])", re.MULTILINE)


def inert_scheme(text: str) -> str:
    """Plain text (WeCom template_card and textcard text): no scheme a client could auto-link."""
    return _SCHEME.sub(r"\1：", text)


def inert_markdown(text: str) -> str:
    """Markdown (DingTalk robot/work-notice markdown, WeCom markdown): no link, image, HTML, heading or
    quote syntax, and no auto-linkable scheme."""
    text = inert_scheme(text).translate(_MARKDOWN_INERT)
    return _LINE_START.sub(lambda m: m.group(1) + ("＃" if m.group(2) == "#" else "＞"), text)


def inert_card(card: Card, inert: Callable[[str], str]) -> Card:
    """The card with its title, lines and fields passed through `inert`; buttons and link untouched."""
    return replace(card, title=inert(card.title), lines=tuple(inert(line) for line in card.lines),
                   fields=tuple((inert(name), inert(value)) for name, value in card.fields))
