"""Run a backend over the gold letters (or read a predictions file) for scoring.

The letters themselves are not in the repository: a gold record names its
letter by id, and the letter is looked up in the letters folder
(default: the shared corpus) as ``letters/<id>.pdf``, ``seeds/<id>.txt`` or a
flat ``<id>.pdf`` / ``<id>.txt``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..api import extract
from ..backends import Backend
from ..config import Config
from ..errors import ConfigError, ExtractionError
from ..loading import load_letter
from ..models import Record
from .gold import GoldRecord
from .scoring import Prediction

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


def _failure(letter_id: str, exc: BaseException, seconds: float | None) -> Prediction:
    if isinstance(exc, ExtractionError):
        log.warning("%s: %s", letter_id, exc)
        return Prediction(letter_id, error=str(exc), error_type=type(exc).__name__, seconds=seconds)
    # Not a typed error: a bug in a backend.  The evaluation goes on (one bad
    # letter must not hide the other figures) but the traceback is logged.
    log.error("%s: unexpected %s", letter_id, type(exc).__name__, exc_info=exc)
    return Prediction(
        letter_id,
        error=f"unexpected {type(exc).__name__}: {exc}",
        error_type=type(exc).__name__,
        seconds=seconds,
    )


def run_backend(
    gold: Sequence[GoldRecord],
    letters_dir: Path,
    *,
    backend: str | Backend | None,
    config: Config,
    progress: ProgressFn | None = None,
) -> dict[str, Prediction]:
    """Extract every gold letter with ``backend``; time each letter (load + extract).

    A letter that cannot be found or fails becomes a Prediction with ``error``
    (scored as an empty record); the run goes on.  A :class:`ConfigError`
    (including :class:`BackendUnavailableError`) stops the run: it is about the
    backend, not the letter.
    """
    out: dict[str, Prediction] = {}
    for g in gold:
        lid = g.letter_id
        path = find_letter(letters_dir, lid)
        if path is None:
            out[lid] = Prediction(
                lid,
                error=f"letter file not found in {letters_dir} (letters/{lid}.pdf, seeds/{lid}.txt)",
                error_type="LetterNotFoundError",
            )
            if progress:
                progress(lid)
            continue
        started = time.perf_counter()
        text: str | None = None
        try:
            letter = load_letter(path)
            text = letter.text
            record = extract(letter, backend=backend, config=config)
        except ConfigError:
            # Not about this letter: the backend cannot run at all (no endpoint, no
            # model).  Scoring every letter as empty would only hide that.
            raise
        except Exception as exc:  # see _failure: typed errors and bugs both become data
            out[lid] = _failure(lid, exc, time.perf_counter() - started)
            out[lid].text = text
        else:
            out[lid] = Prediction(
                lid, record=record, seconds=time.perf_counter() - started, text=text
            )
        if progress:
            progress(lid)
    return out


def predictions_from_records(
    records: dict[str, Record], gold: Sequence[GoldRecord]
) -> dict[str, Prediction]:
    """Predictions read from a file; a gold letter missing from it is an error."""
    out: dict[str, Prediction] = {}
    for g in gold:
        rec = records.get(g.letter_id)
        if rec is None:
            out[g.letter_id] = Prediction(
                g.letter_id,
                error="no prediction for this letter in the predictions file",
                error_type="MissingPrediction",
            )
        else:
            out[g.letter_id] = Prediction(g.letter_id, record=rec)
    return out


def attach_texts(predictions: dict[str, Prediction], letters_dir: Path) -> int:
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
        try:
            pred.text = load_letter(path).text
            loaded += 1
        except ExtractionError as exc:
            log.info("%s: no text for the report: %s", lid, exc)
    return loaded
