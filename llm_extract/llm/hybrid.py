"""The ``hybrid`` backend: the parser decides; the LLM is asked only what it is not sure of.

1. The parser reads the whole letter; every value carries its evidence and the
   parser's certainty (its reading, :mod:`llm_extract.rules.readings`).
2. The fields the LLM can answer (:data:`llm_extract.llm.askable.ASKABLE`) that the parser did not
   decide by an exact rule are asked in **one** call, whose answer schema
   holds only those fields (:func:`~llm_extract.llm.askable.hybrid_answer_for`);
   the instruction prefix (``prompts/hybrid.md``) is identical for every
   letter, so llama.cpp reuses it.  A letter decided with certainty makes no
   call and spends no tokens.  The model writes a diagnosis list (the
   longest answer) only when the parser read none; where the parser's list
   reads more than one way (its other readings,
   :mod:`llm_extract.rules.diagnoses_readings`, and its doubts) the model
   only picks, per other reading, "A" (the parser's) or "B" (the other), and
   the picks settle the list (:func:`.doubts.settle_choices`).
3. Each answer is arbitrated by evidence (:mod:`llm_extract.llm.crosscheck`).
   Decisions and the item list are never asked: they stay the parser's.

If the LLM fails after its retries the record is the parser's, marked
``provenance.fallback`` and flagged (``LLM unavailable: …``).  A letter of an
unknown layout (``llm_extract.layout``) goes whole to the LLM, split at its own
headings (:mod:`llm_extract.llm.whole_letter`), and is flagged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..base import make_provenance
from ..config import Config
from ..document.completeness import unsettled_sites
from ..document.segment import Segments
from ..document.text import clean
from ..errors import BackendUnavailableError, LLMError
from ..field_paths import split_item_path
from ..loading import Letter
from ..models import Record, Usage
from ..review_flags import ReviewCode
from ..rules.backend import parse_letter
from ..rules.readings import ParsedLetter
from .arbitration import Arbitration
from .askable import hybrid_answer_for, item_key, max_tokens, row_for_path, rows
from .client import LazyClient, LLMIdentity, to_usage
from .crosscheck import REASON_UNAVAILABLE, LetterContext, arbitrate
from .doubts import Choice, choice_key, choice_lines, diagnosis_choices, settle_choices
from .excerpts import summary_excerpt
from .prompting import load_prompt

log = logging.getLogger(__name__)

# Recorded in provenance and in the batch store's keys: a change to what is
# asked or how answers are arbitrated is a new version (CHANGELOG.md).
HYBRID_VERSION = "hybrid-2.3"


def decision_lines(letter: Letter, seg: Segments, only: set[int] | None = None) -> str:
    """``N. request: Decision`` per item (only the ``only`` indexes), as the letter writes it."""
    return "\n".join(
        f"{k}. {clean(block.decision_line.text(letter.text))}"
        for k, block in enumerate(seg.items, start=1)
        if only is None or k - 1 in only
    )


def uncertain_fields(
    rules: Record,
) -> tuple[tuple[str, ...], tuple[tuple[int, tuple[str, ...]], ...]]:
    """The answer keys to ask: letter fields, and per item index its fields.

    Every askable field the parser did not decide by an exact rule -- but the
    diagnosis list only when the parser did not read it (undecided).
    Why: a list is the longest answer (~0.1 s per token on the embedded
    model), and on the labelled letters the model's reading of a list the
    parser had read rarely corrected it, while it replaced or flagged right
    ones; a list the parser read in more than one way is settled by short
    picks instead (:func:`.doubts.diagnosis_choices`; docs/llm-backends.md,
    "What is asked").
    """
    letter: list[str] = []
    items: dict[int, list[str]] = {}
    for ev in rules.evidence:
        if ev.certainty == "exact":
            continue
        if ev.field == "diagnoses" and ev.certainty != "undecided":
            continue
        item, path = split_item_path(ev.field)
        asked = row_for_path("letter" if item is None else "item", path)
        if asked is None:
            continue
        if item is None:
            letter.append(asked.key)
        else:
            items.setdefault(item, []).append(asked.key)
    order_l = [r.key for r in rows("letter")]
    order_i = [r.key for r in rows("item")]
    return (
        tuple(sorted(set(letter), key=order_l.index)),
        tuple(
            (i, tuple(sorted(set(names), key=order_i.index))) for i, names in sorted(items.items())
        ),
    )


def _answers(
    answer: Any,
    letter_fields: tuple[str, ...],
    item_fields: tuple[tuple[int, tuple[str, ...]], ...],
) -> list[tuple[str, int | None, Any]]:
    out: list[tuple[str, int | None, Any]] = [(k, None, getattr(answer, k)) for k in letter_fields]
    for i, names in item_fields:
        sub = getattr(answer, item_key(i))
        out.extend((k, i, getattr(sub, k)) for k in names)
    return out


def diagnosis_questions(parsed: ParsedLetter) -> tuple[Choice, ...]:
    """The short questions about the parser's diagnosis list: one per other reading."""
    r = parsed.reading("diagnoses")
    if r is None or r.certainty == "undecided" or not r.value:
        return ()
    return diagnosis_choices(r.value, r.others, parsed.doubts)


class HybridBackend(LLMIdentity):
    """Rules first, the LLM only where rules are unsure; see module docstring."""

    name = "hybrid"
    version = HYBRID_VERSION

    def __init__(self, config: Config) -> None:
        self.config = config
        self._llm = LazyClient(config)
        self._prompt = load_prompt("hybrid")

    def extract(self, letter: Letter) -> Record:
        started = time.perf_counter()
        layout = letter.layout  # detected once per letter; provenance names it too
        if not layout.known:
            return self._whole_letter_to_llm(letter, layout.name)
        parsed = parse_letter(letter)  # raises InputError subclasses for bad letters
        rules, seg = parsed.record, parsed.segments
        letter_fields, item_fields = uncertain_fields(rules)
        choices = diagnosis_questions(parsed)
        if not letter_fields and not item_fields and not choices:
            rules.provenance = self._provenance(
                letter, Usage(seconds=time.perf_counter() - started)
            )
            return rules  # decided with certainty: no call, no tokens
        try:
            answer, usage = self._ask(letter, seg, letter_fields, item_fields, choices)
        except BackendUnavailableError:
            raise  # misconfiguration (bad key, no model): the user must fix it
        except LLMError as exc:
            spent: Usage = getattr(exc, "usage", None) or Usage()
            log.warning("%s: LLM failed, keeping the rules record: %s", letter.letter_id, exc)
            rules.provenance = self._provenance(letter, spent, fallback_reason=str(exc))
            rules.flag(ReviewCode.LLM_UNAVAILABLE, REASON_UNAVAILABLE.format(reason=str(exc)))
            return rules
        ctx = LetterContext(
            text=letter.text,
            summary=(seg.summary.start, seg.summary.end) if seg.summary else None,
            lines=parsed.places.request_ranges,
            diagnosis_doubts=parsed.doubts,
        )
        # The parser's locator: its section views are already made.
        answers = _answers(answer, letter_fields, item_fields)
        record = arbitrate(rules, answers, ctx, parsed.places.loc)
        if choices:
            picks = [getattr(answer, choice_key(n)) for n in range(1, len(choices) + 1)]
            settle_choices(Arbitration(record, ctx, parsed.places.loc), "diagnoses", choices, picks)
        # Sites the model's grounded reading settled are no longer a reason.
        settled = {f.path for f in unsettled_sites(rules)} - {
            f.path for f in unsettled_sites(record)
        }
        for path in settled:
            record.unflag(ReviewCode.UNSETTLED_SITE, path)
        record.provenance = self._provenance(letter, usage)
        log.debug(
            "%s: hybrid in %.1fs (%d asked, %d checks, needs_review=%s)",
            letter.letter_id,
            time.perf_counter() - started,
            len(letter_fields) + sum(len(n) for _, n in item_fields),
            len(record.checks),
            record.needs_review,
        )
        return record

    def _ask(
        self,
        letter: Letter,
        seg: Segments,
        letter_fields: tuple[str, ...],
        item_fields: tuple[tuple[int, tuple[str, ...]], ...],
        choices: tuple[Choice, ...] = (),
    ) -> tuple[Any, Usage]:
        summary = ""
        needed = frozenset(letter_fields) | ({"diagnoses"} if choices else set())
        if needed and seg.summary:
            summary = summary_excerpt(seg.summary.text(letter.text), fields=needed)
        lines = decision_lines(letter, seg, {i for i, _ in item_fields}) if item_fields else ""
        messages = self._prompt.messages(
            summary=summary or "(none)",
            choices=choice_lines(choices) or "(none)",
            lines=lines or "(none)",
        )
        return self._llm.client.complete(
            hybrid_answer_for(letter_fields, item_fields, len(choices)),
            messages,
            letter_id=letter.letter_id,
            field="hybrid",
            max_tokens=max_tokens(letter_fields, item_fields, len(choices)),
        )

    def _whole_letter_to_llm(self, letter: Letter, layout: str) -> Record:
        # The parser's sections are not to be trusted on a layout it does not
        # know: the letter is split at its own headings and the LLM reads every
        # field (llm/whole_letter.py); the record is flagged as such.
        from .whole_letter import WholeLetterReader

        if not letter.layout.is_imr:
            return parse_letter(letter).record  # raises NotIMRLetterError: not a determination
        try:
            record, usage = WholeLetterReader(self._llm).read(letter)
        except BackendUnavailableError:
            raise  # misconfiguration (bad key, no model): the user must fix it
        except LLMError as exc:
            # The parser's record of an unknown layout is already flagged and
            # near empty; it says why, rather than the letter being lost.
            log.warning("%s: unknown layout, the LLM could not read it: %s", letter.letter_id, exc)
            record = parse_letter(letter).record
            spent: Usage = getattr(exc, "usage", None) or Usage()
            record.provenance = self._provenance(letter, spent, fallback_reason=str(exc))
            record.flag(ReviewCode.LLM_UNAVAILABLE, REASON_UNAVAILABLE.format(reason=str(exc)))
            record.flag(
                ReviewCode.UNKNOWN_LAYOUT,
                f"unknown letter layout ({layout}): the LLM could not read it ({exc})",
            )
            return record
        record.provenance = self._provenance(letter, usage)
        return record

    def _provenance(
        self, letter: Letter, usage: Usage, *, fallback_reason: str | None = None
    ) -> Any:
        return make_provenance(
            letter,
            backend=self.name,
            version=self.version,
            model=self._model_name(),
            prompt_version=self.prompt_version,
            usage=to_usage(usage),
            fallback=fallback_reason is not None,
            fallback_reason=fallback_reason,
        )

    def _model_name(self) -> str | None:
        try:
            return self.model
        except Exception:  # the client itself could not be built: no model name to report
            return None

    def close(self) -> None:
        self._llm.close()
