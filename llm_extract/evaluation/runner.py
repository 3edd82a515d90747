"""Run a backend over the gold letters (or read a predictions file) for scoring.

The letters themselves are not in the repository: a gold record names its
letter by id, and the letter is looked up in the letters folder
(default: the shared corpus) as ``letters/<id>.pdf``, ``seeds/<id>.txt`` or a
flat ``<id>.pdf`` / ``<id>.txt``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ..api import get_backend
from ..base import Backend
from ..config import TEXT_ROUTES, Config
from ..errors import ExtractionError, LetterNotFoundError
from ..loading import load_letter
from ..loop import LetterResult, error_data, run_letters
from ..models import Record
from .gold import GoldRecord

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

ProgressFn = Callable[[str], None]


def default_gold_dir() -> Path:
    """``evals/fixtures`` of the working directory, else of this source tree."""
    here = Path("evals/fixtures")
    return here if here.is_dir() else REPO_ROOT / "evals" / "fixtures"


def default_letters_dir() -> Path:
    """``$IMR_CORPUS``, else ``../shared/corpus`` beside the working directory or the repo."""
    env = os.environ.get("IMR_CORPUS")
    if env:
        return Path(env)
    here = Path("../shared/corpus")
    return here if here.is_dir() else REPO_ROOT.parent / "shared" / "corpus"


def find_letter(letters_dir: Path, letter_id: str) -> Path | None:
    candidates = (
        letters_dir / "letters" / f"{letter_id}.pdf",
        letters_dir / "seeds" / f"{letter_id}.txt",
        letters_dir / f"{letter_id}.pdf",
        letters_dir / f"{letter_id}.txt",
        letters_dir / "letters" / f"{letter_id}.txt",
        letters_dir / "seeds" / f"{letter_id}.pdf",
    )
    for c in candidates:
        if c.is_file():
            return c
    return None


def run_backend(
    gold: Sequence[GoldRecord],
    letters_dir: Path,
    *,
    backend: str | Backend | None,
    config: Config,
    progress: ProgressFn | None = None,
) -> dict[str, LetterResult]:
    """Extract every gold letter with ``backend``; time each letter (load + extract).

    Through the one loop (:func:`llm_extract.loop.run_letters`): a letter that
    cannot be found or fails is a result with ``error`` (scored as an empty
    record) and the run goes on; a :class:`ConfigError` (including
    :class:`BackendUnavailableError`, checked before the first letter) stops
    it, as does the fallback circuit breaker: scoring every letter as empty, or
    as the parser's, would only hide that the backend cannot run.
    """
    be = get_backend(backend, config)
    out: dict[str, LetterResult] = {}
    found: list[Path] = []
    for g in gold:
        path = find_letter(letters_dir, g.letter_id)
        if path is None:
            out[g.letter_id] = LetterResult.failed(
                g.letter_id,
                LetterNotFoundError(
                    f"letter file not found in {letters_dir} "
                    f"(letters/{g.letter_id}.pdf, seeds/{g.letter_id}.txt)"
                ),
                letter_id=g.letter_id,
            )
            if progress:
                progress(g.letter_id)
        else:
            found.append(path)
    for result in run_letters(found, be, config, keep_text=True):
        out[result.letter_id] = result
        if progress:
            progress(result.letter_id)
    return {g.letter_id: out[g.letter_id] for g in gold if g.letter_id in out}


def predictions_from_records(
    records: dict[str, Record], gold: Sequence[GoldRecord]
) -> dict[str, LetterResult]:
    """Predictions read from a file; a gold letter missing from it is an error."""
    out: dict[str, LetterResult] = {}
    for g in gold:
        rec = records.get(g.letter_id)
        if rec is None:
            out[g.letter_id] = LetterResult(
                source=g.letter_id,
                letter_id=g.letter_id,
                error=error_data(
                    "MissingPrediction",
                    "no prediction for this letter in the predictions file",
                    None,
                ),
            )
        else:
            out[g.letter_id] = LetterResult.of_record(g.letter_id, rec)
    return out


def attach_texts(predictions: dict[str, LetterResult], letters_dir: Path) -> int:
    """Load the letter text for predictions that lack it (for the HTML report).

    Best effort: a letter that cannot be found or read simply has no context
    in the report.  Returns how many texts were loaded.
    """
    loaded = 0
    for lid, pred in predictions.items():
        if pred.text is not None:
            continue
        path = find_letter(letters_dir, lid)
        if path is None:
            continue
        # The text the record was made from: its own route (a record made from
        # pdftotext text has spans into that text, not into PDFium's).
        prov = pred.record.provenance if pred.record is not None else None
        route = prov.text_source if prov and prov.text_source in TEXT_ROUTES else None
        try:
            letter = load_letter(path, text_from=route)
        except ExtractionError as exc:
            log.info("%s: no text for the report: %s", lid, exc)
            continue
        if prov is not None and prov.text_sha256 != letter.sha256:
            log.info("%s: the letter's text differs from the record's; spans may be off", lid)
        predictions[lid] = replace(pred, text=letter.text)
        loaded += 1
    return loaded
