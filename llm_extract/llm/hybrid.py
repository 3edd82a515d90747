"""The ``hybrid`` backend: the deterministic parser first, the LLM for the rest.

One LLM call per letter, on a small excerpt: the case summary's sentences
that state age, injury date and diagnoses, then the letter's numbered
decision lines (``prompts/hybrid.md``).  The instruction prefix never varies,
so the llama.cpp server reuses it from the previous letter and evaluates only
the excerpt.  The answer is merged into the parser's record by
:mod:`llm_extract.llm.crosscheck`, which records every disagreement.

If the LLM fails after its retries the record is the parser's, marked
``provenance.fallback`` with the reason: nothing is lost.
"""

from __future__ import annotations

import logging
import re
import time

from ..backends import make_provenance
from ..config import Config
from ..document.segment import Segments, segment_letter
from ..document.text import clean
from ..errors import BackendUnavailableError, LLMError
from ..loading import Letter
from ..models import Record
from ..provider import CallUsage
from ..rules.backend import parse_letter
from .client import LazyClient, LLMIdentity, to_usage
from .crosscheck import LetterContext, merge
from .excerpts import summary_excerpt
from .prompting import load_prompt
from .schemas import hybrid_answer_for

log = logging.getLogger(__name__)

# 1.1: an LLM body region must name anatomy; 1.2: exactly one label per decision
# line; 1.3: "injured worker" and the like are not an occupation
HYBRID_VERSION = "hybrid-1.3"
# Per item the answer is ~40 tokens; the summary facts ~60.
_BASE_TOKENS = 160
_TOKENS_PER_ITEM = 60
_HEADER_INJURY = re.compile(r"Date\s+of\s+Injury\s*:\s*\S", re.I)


def decision_lines(letter: Letter, seg: Segments) -> str:
    """``1. request: Decision`` per item, as the letter writes the decision statement."""
    return "\n".join(
        f"{k}. {clean(block.decision_line.text(letter.text))}"
        for k, block in enumerate(seg.items, start=1)
    )


class HybridBackend(LLMIdentity):
    """Rules first, the LLM for what rules cannot decide; see module docstring."""

    name = "hybrid"
    version = HYBRID_VERSION

    def __init__(self, config: Config) -> None:
        self.config = config
        self._llm = LazyClient(config)
        self._prompt = load_prompt("hybrid")

    def extract(self, letter: Letter) -> Record:
        started = time.perf_counter()
        rules = parse_letter(letter)  # raises InputError subclasses for bad letters
        seg = segment_letter(letter)
        summary = summary_excerpt(seg.summary.text(letter.text)) if seg.summary else ""
        messages = self._prompt.messages(
            summary=summary or "(none)", lines=decision_lines(letter, seg)
        )
        max_tokens = _BASE_TOKENS + _TOKENS_PER_ITEM * len(seg.items)
        try:
            answer, usage = self._llm.client.complete(
                hybrid_answer_for(len(seg.items)),
                messages,
                letter_id=letter.letter_id,
                field="hybrid",
                max_tokens=max_tokens,
            )
        except BackendUnavailableError:
            raise  # misconfiguration (bad key, no model): the user must fix it
        except LLMError as exc:
            spent: CallUsage = getattr(exc, "usage", None) or CallUsage()
            log.warning("%s: LLM failed, keeping the rules record: %s", letter.letter_id, exc)
            rules.provenance = make_provenance(
                letter,
                backend=self.name,
                version=self.version,
                model=self._model_name(),
                prompt_version=self.prompt_version,
                usage=to_usage(spent),
                fallback=True,
                fallback_reason=str(exc),
            )
            return rules
        ctx = LetterContext(
            summary=summary,
            requests=[b.request for b in seg.items],
            header_has_injury_date=bool(
                seg.header and _HEADER_INJURY.search(seg.header.text(letter.text))
            ),
        )
        record = merge(rules, answer, ctx)
        total = to_usage(usage)
        record.provenance = make_provenance(
            letter,
            backend=self.name,
            version=self.version,
            model=self.model,
            prompt_version=self.prompt_version,
            usage=total,
        )
        log.debug(
            "%s: hybrid in %.1fs (%d checks, needs_review=%s)",
            letter.letter_id,
            time.perf_counter() - started,
            len(record.checks),
            record.needs_review,
        )
        return record

    def _model_name(self) -> str | None:
        try:
            return self.model
        except Exception:  # the client itself could not be built: no model name to report
            return None

    def close(self) -> None:
        self._llm.close()
