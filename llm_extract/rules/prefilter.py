"""A cheap prefilter for a keyword regex: literal substrings one of which every
match must contain.

Substring scans are far cheaper than running a regex of many alternatives, so
a rule's regex runs only when the lower-cased text contains one of its
literal prefixes (:mod:`.categories`).
"""

from __future__ import annotations

import re


def _literal_prefix(alternative: str) -> str | None:
    """The literal text every match of one alternative starts with (lower case).

    ``None`` when it starts with something else than a literal of 2+ chars.
    """
    alt = alternative.removeprefix(r"\b")
    out: list[str] = []
    for k, ch in enumerate(alt):
        if ch.isalnum() or ch in " /-&'":
            if k + 1 < len(alt) and alt[k + 1] in "?*{":
                break  # this char is optional
            out.append(ch.lower())
        else:
            break
    prefix = "".join(out)
    return prefix if len(prefix) >= 2 else None


def _top_level_alternatives(pattern: str) -> list[str]:
    parts, depth, start, k = [], 0, 0, 0
    while k < len(pattern):
        ch = pattern[k]
        if ch == "\\":
            k += 2
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:k])
            start = k + 1
        k += 1
    parts.append(pattern[start:])
    return parts


def _prefilter_of(rx: re.Pattern[str]) -> tuple[str, ...] | None:
    """Substrings one of which any match must contain; None when unknown."""
    prefixes = []
    for alternative in _top_level_alternatives(rx.pattern):
        prefix = _literal_prefix(alternative)
        if prefix is None:
            return None
        prefixes.append(prefix)
    return tuple(prefixes)


def _needle_rx(needles: tuple[str, ...] | None) -> re.Pattern[str] | None:
    """One regex of plain alternatives: finds any of ``needles`` in one C-level scan."""
    if needles is None:
        return None
    if not needles:
        return re.compile(r"(?!)")  # never matches, as any(()) is False
    return re.compile("|".join(map(re.escape, needles)))


def needles_for(rx: re.Pattern[str]) -> re.Pattern[str] | None:
    """One regex of the literal prefixes of ``rx``'s alternatives; None when some
    alternative has none (then ``rx`` must always run)."""
    return _needle_rx(_prefilter_of(rx))
