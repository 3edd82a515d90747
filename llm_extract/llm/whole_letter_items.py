"""The disputed requests of a letter in an unknown layout: found, located, decided, read.

The second half of the whole-letter reader (:mod:`.whole_letter`): one call
discovers every request and its decision in the decision and rationale
sections (``prompts/whole_items.md``); each request is located where the
letter decides it; its decision is its statement's own outcome words where
they name one (:mod:`llm_extract.document.outcomes`), else the model's
reading, flagged; then, while calls remain, one call per request reads every
item field from the sentences around it (``prompts/item.md``).  A request the
letter does not hold, or does not decide, is dropped and flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..document.outcomes import stated_outcomes, statement, states_outcome
from ..document.text import clean
from ..evidence import make_evidence, make_span
from ..models import Category, Check, Decision, GuidelineSources, Item, Medication, Span
from ..review_flags import ReviewCode
from ..rules.categories import has_keyword_for
from ..textsets import sentences
from .client import LazyClient
from .grounding import Ranges, Reading
from .prompting import load_prompt
from .schemas import FoundItems, ItemFacts

# Prompt sizes: the model's context is 4,096 tokens, and every prompt token
# is evaluated on the CPU.
_MAX_DECISION_CHARS = 2400
_MAX_ITEM_CHARS = 700

_RETRO = re.compile(r"\bretro\w*", re.I)


@dataclass(frozen=True)
class _Found:
    """A discovered request located in the letter."""

    request: str
    decision: Decision | None
    request_span: tuple[int, int]
    statement: tuple[int, int]


class RequestReader:
    """Finds and reads a letter's requests in calls counted against ``max_calls``."""

    def __init__(self, llm: LazyClient, *, max_calls: int) -> None:
        self._llm = llm
        self.max_calls = max_calls
        self._items_prompt = load_prompt("whole_items")
        self._item_prompt = load_prompt("item")

    def _call(
        self, r: Reading, model: type, messages: list[dict[str, str]], name: str, tokens: int
    ) -> Any:
        answer: Any
        answer, usage = self._llm.client.complete(
            model, messages, letter_id=r.letter.letter_id, field=name, max_tokens=tokens
        )
        r.usage.add(usage)
        r.calls += 1
        return answer

    def _decision_text(self, r: Reading, ranges: Ranges) -> str:
        """The decision and rationale sections, or the letter's outcome sentences."""
        text = " ".join(r.parts.clean(lo, hi) for lo, hi in ranges)
        if states_outcome(text):
            return text[:_MAX_DECISION_CHARS]
        outside = [(s.body_start, s.end) for s in r.parts.sections if s.role != "documents"]
        stating = [
            sentence
            for lo, hi in outside
            for sentence in sentences(r.parts.clean(lo, hi))
            if states_outcome(sentence)
        ]
        return " ".join(stating)[:_MAX_DECISION_CHARS] or text[:_MAX_DECISION_CHARS]

    def _discover(self, r: Reading, ranges: Ranges) -> list[_Found]:
        text = self._decision_text(r, ranges)
        if not text:
            return []
        answer: FoundItems = self._call(
            r, FoundItems, self._items_prompt.messages(text=text), "items", 60 + 40 * 8
        )
        out: list[_Found] = []
        seen: set[str] = set()
        for it in answer.items:
            key = " ".join(it.request.casefold().split())
            if not key or key in seen:
                continue
            seen.add(key)
            located = self._locate_request(r, it.request, it.decision, ranges)
            if located is not None and _decided(r.letter.text, located, ranges):
                out.append(located)
                continue
            # Not in the letter; or in it, but neither where decisions are written
            # nor in a sentence stating an outcome (a treatment the history mentions).
            why = (
                "that is not in the letter"
                if located is None
                else "that the letter does not decide"
            )
            r.checks.append(
                Check(
                    field="items",
                    llm_value=it.request,
                    rules_value=None,
                    kept="rules",
                    reason=f"the model named a request {why}; dropped",
                    resolved=True,
                )
            )
            r.flag(
                ReviewCode.DROPPED_REQUEST,
                f"the model named a request {why} ({it.request!r}); it was dropped",
            )
        return out

    def _locate_request(
        self, r: Reading, request: str, decision: Decision | None, ranges: Ranges
    ) -> _Found | None:
        """Where ``request`` stands, preferring an occurrence whose statement states
        an outcome (a list of requests may name it before its decision)."""
        text = r.letter.text
        first: _Found | None = None
        for lo, hi in [*ranges, (0, len(text))]:
            at = lo
            for _ in range(6):
                hit = r.loc.find_text(request, at, hi)
                if hit is None:
                    break
                s, e = hit.spans[0][0], hit.spans[-1][1]
                stmt = statement(text, s, e)
                # Found loosely ("100 mg" for "100mg"): the letter's own words.
                written = request if hit.level in ("exact", "normalised") else clean(text[s:e])
                cand = _Found(written, decision, (s, e), stmt)
                body = text[stmt[0] : stmt[1]]
                if states_outcome(body):
                    return cand
                first = first or cand
                at = e
        return first

    def _items_of(self, r: Reading, found: list[_Found], ranges: Ranges) -> list[Item]:
        items: list[Item] = []
        guideline_ranges = r.ranges("guideline")
        for f in found:
            i = len(items)
            facts: ItemFacts | None = None
            context = clean(r.letter.text[f.statement[0] : f.statement[1]])[:_MAX_ITEM_CHARS]
            if r.calls < self.max_calls:
                facts = self._call(
                    r,
                    ItemFacts,
                    self._item_prompt.messages(text=f"Decision statement: {context}"),
                    f"items[{i}]",
                    600,
                )
            decision = self._decision(r, i, f, facts)
            if decision is None:
                r.flag(
                    ReviewCode.NO_DECISION,
                    f"no decision was read for the request {f.request!r}; it was not kept",
                )
                continue
            items.append(self._item(r, i, f, decision, facts, guideline_ranges))
            if facts is None:
                r.flag(
                    ReviewCode.CALL_BUDGET,
                    f"items[{i}]: only its request and decision were read "
                    f"(the whole-letter reader makes at most {self.max_calls} calls)",
                    f"items[{i}]",
                )
        return items

    def _decision(self, r: Reading, i: int, f: _Found, facts: ItemFacts | None) -> Decision | None:
        """The decision the request's statement states in outcome words, else the
        model's reading (discovery's first, the item call's second), flagged.

        The words decide when they name one decision: the embedded 1.5B model
        read "is medically necessary" as "upheld" (the denial's outcome is
        easy to invert), and a fixed phrase is what the parser trusts in the
        older layouts too (``document/older.py``)."""
        body = r.letter.text[f.statement[0] : f.statement[1]]
        path = f"items[{i}].decision"
        readings = [d for d in (f.decision, facts.decision if facts else None) if d is not None]
        stated = stated_outcomes(body)
        rule = "whole letter: the outcome words of the request's statement"
        if len(stated) == 1:
            ((decision, m),) = stated.items()
            wrong = [d for d in readings if d is not decision]
            for d in dict.fromkeys(wrong):
                r.checks.append(
                    Check(
                        field=path,
                        llm_value=d.value,
                        rules_value=decision.value,
                        kept="rules",
                        reason=f"the statement says {m.group(0)!r}: {decision.value}",
                        resolved=True,
                    )
                )
            s, e = f.statement[0] + m.start(), f.statement[0] + m.end()
            r.evidence[path] = make_evidence(
                path,
                [make_span(s, e)],
                reader="both" if readings and not wrong else "rules",
                rule=rule,
                certainty="exact",
                grounded=True,
            )
            return decision
        if not readings:
            return None
        decision = readings[0]
        if len(set(readings)) > 1:
            r.checks.append(
                Check(
                    field=path,
                    llm_value=decision.value,
                    rules_value=None,
                    kept="llm",
                    reason=f"the discovery call's reading; the item call reads {readings[1].value}",
                    resolved=False,
                )
            )
            r.flag(
                ReviewCode.READERS_DISAGREE,
                f"{path}: two readings ({readings[0].value}, {readings[1].value})",
                path,
            )
        r.set_evidence(path, [], rule, present=True, grounded=False)
        why = "outcome words for both decisions" if stated else "no outcome words"
        r.flag(
            ReviewCode.UNGROUNDED,
            f"{path} is the model's reading only ({why} near the request)",
            path,
        )
        return decision

    def _item(
        self,
        r: Reading,
        i: int,
        f: _Found,
        decision: Decision,
        facts: ItemFacts | None,
        guideline_ranges: Ranges,
    ) -> Item:
        p = f"items[{i}]"
        request_at: list[Ranges] = [[f.request_span]]
        around: list[Ranges] = [[f.statement]]
        rule = "whole letter: item call over the request's statement"
        r.set_evidence(
            f"{p}.request",
            [f.request_span],
            "whole letter: the discovery call's request, located in the letter",
            present=True,
            grounded=True,
        )
        # Evidence order follows the record: request, original_request, decision, …
        decision_ev = r.evidence.pop(f"{p}.decision")
        x = facts
        original = r.keep(f"{p}.original_request", x.original_request if x else None, around, rule)
        r.evidence[f"{p}.decision"] = decision_ev
        category = x.category if x else None
        grounded_category = category is not None and has_keyword_for(category, f.request)
        r.set_evidence(
            f"{p}.category",
            [f.request_span] if category else [],
            rule,
            present=category is not None,
            grounded=grounded_category,
        )
        if category is not None and not grounded_category:
            r.flag(
                ReviewCode.UNGROUNDED,
                f"{p}.category is the model's reading only (not grounded in the request)",
                f"{p}.category",
            )
        quantity = r.keep(f"{p}.quantity", x.quantity if x else None, request_at + around, rule)
        frequency = r.keep(
            f"{p}.frequency_per_week", x.frequency_per_week if x else None, around, rule
        )
        duration = r.keep(f"{p}.duration_weeks", x.duration_weeks if x else None, around, rule)
        body_region = r.keep(f"{p}.body_region", x.body_region if x else None, around, rule)
        date_of_service = x.date_of_service if x else None
        retro = bool(x.retrospective) if x else False
        body = r.letter.text[f.statement[0] : f.statement[1]]
        retro_word = _RETRO.search(body)
        if retro and not retro_word and date_of_service is None:
            r.drop(f"{p}.retrospective", True)
            retro = False
        r.set_evidence(
            f"{p}.retrospective",
            [(f.statement[0] + retro_word.start(), f.statement[0] + retro_word.end())]
            if retro and retro_word
            else [],
            rule,
            present=retro,
            grounded=retro,
        )
        date_of_service = r.keep(f"{p}.date_of_service", date_of_service, around, rule)
        cpt = r.keep_list(f"{p}.cpt_codes", x.cpt_codes if x else [], around, rule)
        medication = None
        name = x.medication_name if x else None
        if name and category not in (None, Category.MEDICATION):
            name = None  # a drug name only for a medication
        name = r.keep(f"{p}.medication.name", name, request_at + around, rule)
        strength = r.keep(
            f"{p}.medication.strength",
            x.medication_strength if x and name else None,
            request_at + around,
            rule,
        )
        days = r.keep(
            f"{p}.medication.days_supply", x.days_supply if x and name else None, around, rule
        )
        if name:
            medication = Medication(name=name, strength=strength, days_supply=days)
        g_where = [*around, guideline_ranges]
        sources = GuidelineSources(
            claims_administrator=r.keep_list(
                f"{p}.guideline_sources.claims_administrator",
                x.claims_administrator_sources if x else [],
                g_where,
                rule,
            ),
            maximus=r.keep_list(
                f"{p}.guideline_sources.maximus", x.maximus_sources if x else [], g_where, rule
            ),
        )
        # The reviewer's guideline text stands under a guideline heading, never in
        # the decision statement (which the model copied there once).
        maximus_guideline = r.keep(
            f"{p}.maximus_guideline",
            x.maximus_guideline if x else None,
            [guideline_ranges],
            rule,
        )
        return Item(
            request=f.request,
            original_request=original,
            decision=decision,
            category=category,
            quantity=quantity,
            frequency_per_week=frequency,
            duration_weeks=duration,
            body_region=body_region,
            retrospective=retro,
            date_of_service=date_of_service,
            cpt_codes=cpt,
            medication=medication,
            guideline_sources=sources,
            maximus_guideline=maximus_guideline,
            span=Span(start=f.statement[0], end=f.statement[1]),
        )


def _decided(text: str, found: _Found, ranges: Ranges) -> bool:
    """The request stands in a decision or rationale section, or its statement
    states an outcome."""
    s, e = found.request_span
    if any(lo <= s and e <= hi for lo, hi in ranges):
        return True
    body = text[found.statement[0] : found.statement[1]]
    return states_outcome(body)
