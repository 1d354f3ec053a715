"""Split a message text into platform-sized chunks without breaking what a reader sees.

Rules, in order of preference for where a chunk ends:

1. after a newline, else after other white space (words stay whole), else at a character boundary that keeps
   graphemes whole (a combining mark, a zero-width joiner, a variation selector or a skin-tone modifier stays with the
   character before it), else — only for pathological input such as thousands of combining marks — at any code point
   boundary that keeps a surrogate pair whole;
2. never inside a run of backticks, so a ``` fence marker is never cut in two;
3. a chunk that ends inside a ``` code block is closed with "\\n```" and the next chunk reopens it with "```lang\\n"
   (the language of the opening fence, when it has one), so every chunk renders as code where the original did.

Length is counted in the platform's unit (`unit`): UTF-16 code units by default (Discord, Telegram: a character
outside the Basic Multilingual Plane, most emoji, counts twice, never less than their own count), code points
(`"chars"`), or UTF-8 bytes (`"bytes"`, Matrix, whose events are limited in encoded size).

The split is deterministic (the delivery ledger counts chunks, and a retry must see the same ones). Removing the added
fence markup (`Part.prefix`/`Part.suffix`) from each chunk and concatenating gives back the text exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bindings.errors import InvalidInput

FENCE = "```"
_FENCE_CLOSE = "\n```"
_LANG = re.compile(r"```([A-Za-z0-9_+#.\-]{1,16})\n")  # a fence language worth repeating when a chunk reopens
MIN_MAX_LEN = 32  # room for a reopened fence with its language, its closing marker and some text


@dataclass(frozen=True)
class Part:
    """One chunk as `prefix + body + suffix`; `body` is a slice of the original text, the rest is fence markup."""

    prefix: str
    body: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.body + self.suffix


Unit = Literal["utf16", "chars", "bytes"]


def utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _utf16_width(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _char_width(ch: str) -> int:
    return 1


def _utf8_width(ch: str) -> int:
    # A lone surrogate (possible in a str decoded with surrogateescape) would be 3 bytes as WTF-8.
    cp = ord(ch)
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


_WIDTHS: dict[str, Callable[[str], int]] = {"utf16": _utf16_width, "chars": _char_width, "bytes": _utf8_width}


def measure(text: str, unit: Unit = "utf16") -> int:
    """The length of `text` in `unit`."""
    width = _WIDTHS[unit]
    return sum(width(ch) for ch in text)


def split_message(text: str, max_len: int = 2000, unit: Unit = "utf16") -> list[str]:
    """Split `text` into chunks of at most `max_len` in `unit`; a text that fits is one chunk, unchanged."""
    return [part.text for part in split_parts(text, max_len, unit)]


def split_parts(text: str, max_len: int = 2000, unit: Unit = "utf16") -> list[Part]:
    if unit not in _WIDTHS:
        raise InvalidInput("unit", f"must be one of {', '.join(_WIDTHS)}, got {unit!r}")
    if max_len < MIN_MAX_LEN:
        raise InvalidInput("max_len", f"must be at least {MIN_MAX_LEN}, got {max_len}")
    width = _WIDTHS[unit]
    if measure(text, unit) <= max_len:
        return [Part("", text, "")]
    parts: list[Part] = []
    pos = 0
    fence_lang: str | None = None  # None: outside a code block at `pos`; "" or a language: inside one
    while pos < len(text):
        prefix = "" if fence_lang is None else f"{FENCE}{fence_lang}\n"
        budget = max_len - measure(prefix, unit)
        if measure(text[pos:], unit) <= budget:
            parts.append(Part(prefix, text[pos:], ""))
            break
        # Reserve room for a closing fence whether or not the cut ends up inside a block: simpler than searching
        # twice, and four code units out of two thousand cost nothing.
        end = _cut(text, pos, budget - len(_FENCE_CLOSE), width)
        body = text[pos:end]
        fence_lang = _fence_state(body, fence_lang)
        parts.append(Part(prefix, body, "" if fence_lang is None else _FENCE_CLOSE))
        pos = end
    return parts


def _fence_state(body: str, lang: str | None) -> str | None:
    """The code-block state after `body`, given the state before it (None outside, else the block's language)."""
    i = 0
    while True:
        j = body.find(FENCE, i)
        if j < 0:
            return lang
        if lang is None:
            m = _LANG.match(body, j)
            lang = m.group(1) if m else ""
        else:
            lang = None
        i = j + len(FENCE)


def _cut(text: str, pos: int, budget: int, width: Callable[[str], int]) -> int:
    """The end (exclusive) of the next chunk starting at `pos`, at most `budget` units long."""
    limit = _limit_index(text, pos, budget, width)
    # Best first: after a newline, after other white space, at a grapheme boundary, at any safe code point boundary.
    for accept in (_after_newline, _after_space, _grapheme_boundary, _codepoint_boundary):
        for end in range(limit, pos, -1):
            if accept(text, end) and not _inside_backtick_run(text, end):
                return end
    # Only a run of backticks longer than the budget gets here: cut it rather than loop forever.
    end = limit
    while end > pos + 1 and not _codepoint_boundary(text, end):
        end -= 1
    return max(end, pos + 1)


def _limit_index(text: str, pos: int, budget: int, width: Callable[[str], int]) -> int:
    """The largest index `end` with the width of text[pos:end] <= budget."""
    used = 0
    end = pos
    while end < len(text):
        w = width(text[end])
        if used + w > budget:
            break
        used += w
        end += 1
    return end


def _after_newline(text: str, end: int) -> bool:
    return text[end - 1] == "\n"


def _after_space(text: str, end: int) -> bool:
    return text[end - 1].isspace() and _grapheme_boundary(text, end)


def _codepoint_boundary(text: str, end: int) -> bool:
    """Not between a high and a low surrogate (only possible in a str that kept them unpaired, e.g. from bytes)."""
    return not (0xD800 <= ord(text[end - 1]) <= 0xDBFF and 0xDC00 <= ord(text[end]) <= 0xDFFF)


_JOINER = "\u200d"


def _extends(ch: str) -> bool:
    """A character that belongs to the grapheme before it."""
    cp = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or ch == _JOINER
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (flags of regions)
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
    )


def _grapheme_boundary(text: str, end: int) -> bool:
    if not _codepoint_boundary(text, end):
        return False
    if _extends(text[end]) or text[end - 1] == _JOINER:
        return False
    # Regional indicator symbols pair up into flags: keep an even run's pairs together.
    if _regional(text[end - 1]) and _regional(text[end]):
        run = 0
        i = end - 1
        while i >= 0 and _regional(text[i]):
            run += 1
            i -= 1
        return run % 2 == 0
    return True


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _inside_backtick_run(text: str, end: int) -> bool:
    return text[end - 1] == "`" and end < len(text) and text[end] == "`"
