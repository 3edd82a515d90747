"""One truth per value: a record's values, their evidence and its ``checks`` agree.

A record says each value three ways: the value itself, its evidence (which
reader produced it, where it stands in the letter) and, where two readers
were arbitrated, the check that says which reading was kept.  An analyst
trusts a value because the three agree; :func:`truth_violations` lists every
place where they do not, whatever backend made the record:

* every path named by evidence, a check or a flag is a field of the record
  (an item index within the items, an element index within its list);
* the record's evidence is complete: a field with a value has an evidence
  entry (when the record carries evidence at all), a field without a value
  has no spans and is not grounded, and a path has one entry;
* a grounded value has spans inside the letter, and the text at its spans is
  what the value was read from (the value is located there again);
* a check that decided a field names the value the record holds: ``kept``
  ``rules`` -- the record holds the check's ``rules_value``, ``llm`` -- its
  ``llm_value``; a check that set aside elements of the model's list
  (``kept="rules"``, none of them in the record) is a decision about those
  elements only;
* the evidence's reader agrees with the decision: a field the model's
  reading won has ``reader="llm"``, one the parser's won ``rules`` or ``both``;
* given the parser's own record of the letter (``parser``), a value whose
  evidence says the parser read it is the parser's reading (or the reading a
  check names as the parser's).

Used by the property test over the corpus and every backend
(tests/test_consistency.py) and by the fuzzing campaign's invariants.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from .document.outcomes import CUES
from .evidence import Locator
from .field_paths import PathError, get_path, parse_path
from .fields import item_fields, letter_fields
from .models import Category, Check, Decision, Evidence, GuidelineSource, Record
from .normalize import jsonable
from .rules.categories import has_keyword_for
from .rules.guidelines import guideline_sources

_ABSENT: tuple[Any, ...] = (None, [], False, "")


def _absent(value: Any) -> bool:
    return any(value is a or (value == a and type(value) is type(a)) for a in _ABSENT)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON, with every absent form (null, [], false, "") one value."""
    a, b = jsonable(a), jsonable(b)
    return (_absent(a) and _absent(b)) or a == b


def value_paths(record: Record) -> Iterator[str]:
    """Every RECORD.md field path of ``record``: letter fields, then each item's."""
    yield from letter_fields()
    for i in range(len(record.items)):
        for name in item_fields():
            yield f"items[{i}].{name}"


@functools.cache
def _spec_paths() -> frozenset[str]:
    """The field paths with item indexes dropped, and their parents (``items``, ``items.medication``)."""
    names = {*letter_fields(), *(f"items.{n}" for n in item_fields())}
    parents = {n.rsplit(".", 1)[0] for n in names if "." in n}
    return frozenset(names | parents | {"items"})


def path_exists(record: Record, path: str) -> bool:
    """Does ``path`` name a field of ``record`` -- its item and element indexes in range?"""
    try:
        parts = parse_path(path)
    except PathError:
        return False
    node: Any = record
    names: list[str] = []
    for k, part in enumerate(parts):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False
            node = node[part]
            continue
        names.append(part)
        if ".".join(names) not in _spec_paths():
            return False
        node = get_path(node, part) if node is not None else None
        if node is None and k + 1 < len(parts) and isinstance(parts[k + 1], int):
            return False
    return True


def truth_violations(record: Record, text: str, parser: Record | None = None) -> list[str]:
    """Where ``record``'s values, evidence and checks disagree (see the module docstring).

    ``text`` is the letter text the record was read from; ``parser``, when
    given, is the parser's own record of that letter (the ``rules`` backend).
    """
    out: list[str] = []
    loc = Locator(text)
    by_path: dict[str, Evidence] = {}
    for entry in record.evidence:
        if entry.field in by_path:
            out.append(f"{entry.field}: two evidence entries")
        by_path[entry.field] = entry
        if not path_exists(record, entry.field):
            out.append(f"evidence for {entry.field}, which is no field of the record")
    out.extend(_flag_violations(record))
    decided = _decisions(record, out)
    for path in value_paths(record):
        value = get_path(record, path)
        ev = by_path.get(path)
        if ev is None:
            if record.evidence and not _absent(value):
                out.append(f"{path}: {_show(value)} has no evidence")
            continue
        out.extend(_evidence_violations(path, value, ev, text, loc))
        check = decided.get(path)
        # Who read an absent value is moot (the whole-letter reader's dropped values).
        read = not _absent(value)
        if read and check is not None and (check.kept == "llm") != (ev.reader == "llm"):
            out.append(
                f"{path}: the check kept the {_reader(check.kept)}'s reading "
                f"but the evidence says the {_reader(ev.reader)}'s"
            )
        if parser is not None and ev.reader in ("rules", "both"):
            theirs = get_path(parser, path)
            named = check is not None and check.kept == "rules"
            if not _same(value, theirs) and not named:
                out.append(
                    f"{path}: the evidence says the parser read {_show(value)}, "
                    f"the parser reads {_show(theirs)}"
                )
    return out


def _reader(kept: str) -> str:
    return {"rules": "parser", "llm": "model"}.get(kept, kept)


def _show(value: Any) -> str:
    return repr(jsonable(value))


def _flag_violations(record: Record) -> Iterator[str]:
    for flag in record.review_flags:
        if flag.path is not None and not path_exists(record, flag.path):
            yield f"flag {flag.code.value} on {flag.path}, which is no field of the record"


def _set_aside(check: Check, value: Any) -> bool:
    """A check that set aside elements of the model's list (a diagnosis, a specialty, a
    request the letter does not decide), none of which the record holds."""
    if check.kept != "rules" or not isinstance(value, list):
        return False
    if check.field == "items":  # an item is named by its request
        value = [item.request for item in value]
    held = {str(v).casefold() for v in jsonable(value)}
    theirs = {str(v).casefold() for v in (check.rules_value or [])}
    lost = check.llm_value if isinstance(check.llm_value, list) else [check.llm_value]
    return not any(str(v).casefold() in held - theirs for v in lost)


def _decisions(record: Record, out: list[str]) -> dict[str, Check]:
    """The check that decided each path (the last one that is no set-aside), each one checked."""
    decided: dict[str, Check] = {}
    for check in record.checks:
        if not path_exists(record, check.field):
            out.append(f"a check on {check.field}, which is no field of the record")
            continue
        if check.kept not in ("rules", "llm"):
            out.append(f"{check.field}: a check keeps {check.kept!r}, neither reader")
            continue
        value = get_path(record, check.field)
        kept = check.rules_value if check.kept == "rules" else check.llm_value
        if not _same(value, kept) and _set_aside(check, value):
            continue
        if not _same(value, kept):
            out.append(
                f"{check.field}: a check says the {_reader(check.kept)}'s {_show(kept)} was kept "
                f"({check.reason}) but the record holds {_show(value)}"
            )
        decided[check.field] = check
    return decided


def _evidence_violations(
    path: str, value: Any, ev: Evidence, text: str, loc: Locator
) -> Iterator[str]:
    for span in ev.spans:
        if not 0 <= span.start <= span.end <= len(text):
            yield f"{path}: span {span.start}:{span.end} lies outside the letter"
            return
    if _absent(value):
        if ev.spans or ev.grounded:
            yield f"{path}: no value, yet evidence with spans (grounded={ev.grounded})"
        return
    if not ev.grounded:
        return
    if not ev.spans:
        yield f"{path}: grounded evidence without a span"
        return
    lo = min(s.start for s in ev.spans)
    hi = max(s.end for s in ev.spans)
    for element in value if isinstance(value, list) else [value]:
        if not _stands_in(element, path, text, loc, lo, hi):
            yield (
                f"{path}: {_show(element)} is not what the text at its evidence says "
                f"({text[lo:hi][:120]!r})"
            )


def _stands_in(value: Any, path: str, text: str, loc: Locator, lo: int, hi: int) -> bool:
    """Is ``value`` written in ``text[lo:hi]``, in any form the locator reads?"""
    if isinstance(value, bool):
        return True  # a flag (retrospective) is read from a word, not written as a value
    if isinstance(value, Category):
        # A category is grounded by one of its keywords in the request.
        return has_keyword_for(value, text[lo:hi])
    if isinstance(value, Decision):
        return bool(CUES[value].search(text[lo:hi]))
    if isinstance(value, GuidelineSource) and value in guideline_sources(text[lo:hi]):
        return True  # a family named by its citation ("Non-MTUS Citation" is "other")
    if loc.find(value, lo, hi) is not None:
        return True
    # Groups joined by the reader ("lumbar spine, left wrist"; a compound's
    # strengths "10%, 3%"): each group stands there on its own.
    parts = value.split(", ") if isinstance(value, str) else []
    return len(parts) > 1 and all(loc.find(p, lo, hi) is not None for p in parts)


__all__ = ["path_exists", "truth_violations", "value_paths"]
