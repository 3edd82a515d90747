"""Every error llm-extract raises on purpose.

All of them derive from :class:`ExtractionError` and carry context: which
letter, which field, and the original exception.  The CLI turns them into a
one-line reason and a non-zero exit code; the batch records them as data.
"""

from __future__ import annotations


class ExtractionError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with for this error."""

    exit_code = 1
    # What the LLM calls spent before the error (a models.Usage), if any.
    usage: object | None = None

    def __init__(
        self,
        message: str,
        *,
        letter: str | None = None,
        field: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.letter = letter
        self.field = field
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        where = []
        if self.letter:
            where.append(self.letter)
        if self.field:
            where.append(f"field {self.field}")
        prefix = f"{': '.join(where)}: " if where else ""
        return f"{prefix}{self.message}"

    def to_dict(self) -> dict[str, str | None]:
        """The error as data (batch failures, JSON output)."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "letter": self.letter,
            "field": self.field,
            "cause": repr(self.cause) if self.cause is not None else None,
        }


# --- bad input -------------------------------------------------------------
class InputError(ExtractionError):
    """The letter itself cannot be used (exit code 2)."""

    exit_code = 2


class LetterNotFoundError(InputError):
    """The path does not exist or is not a readable file."""


class UnsupportedFormatError(InputError):
    """Neither .pdf nor .txt."""


class EmptyLetterError(InputError):
    """The file, or the text extracted from it, is empty."""


class ScannedPdfError(InputError):
    """A PDF without a text layer (an image scan): OCR it first."""


class EncryptedPdfError(InputError):
    """A PDF that needs a password to open."""


class CorruptPdfError(InputError):
    """A file that claims to be a PDF but cannot be parsed."""


class NotIMRLetterError(InputError):
    """The document is not an IMR Final Determination letter."""


class TruncatedLetterError(InputError):
    """The letter is cut off before its disputed items."""


class LimitExceededError(InputError):
    """A file or letter is past one of the limits of :class:`~llm_extract.config.Config`.

    ``limit`` names the ``Config`` field; the message says how far past it the
    file is and the flag and environment variable that raise it.  A limit
    keeps one hostile file (a PDF of 20,000 blank pages, a text of thousands
    of letters) from taking the memory or the time of a whole run.
    """

    limit: str = ""


class FileTooLargeError(LimitExceededError):
    """The file is larger than ``Config.max_file_mb``."""

    limit = "max_file_mb"


class TooManyPagesError(LimitExceededError):
    """The PDF has more pages than ``Config.max_pages``."""

    limit = "max_pages"


class TextTooLongError(LimitExceededError):
    """The file's text is longer than ``Config.max_chars`` characters."""

    limit = "max_chars"


class TooManyOcrPagesError(LimitExceededError):
    """More pages need OCR than ``Config.max_ocr_pages``."""

    limit = "max_ocr_pages"


class LetterTimeoutError(LimitExceededError):
    """The letter took longer than its time budget, ``Config.letter_seconds``."""

    limit = "letter_seconds"


class BundleError(InputError):
    """The file holds several letters, and the caller asked for one record.

    ``llm_extract.extract_all`` (and every command) gives one record per letter.
    """


class BundleSplitError(InputError):
    """The file seems to hold several letters, but where one ends is unsure.

    Never one merged record: the message names the pages (or lines) to look
    at, so the file can be split by hand.
    """


# --- configuration and backends ---------------------------------------------
class ConfigError(ExtractionError):
    """Bad or missing configuration; the message says how to fix it."""

    exit_code = 3


class BackendUnavailableError(ConfigError):
    """The chosen backend cannot run here (extra not installed, no endpoint)."""


class MissingExtraError(ConfigError):
    """An optional feature's packages are not installed; the message names the extra."""


class QueryError(ExtractionError):
    """``llm-extract query``: the SQL does not run on the views (syntax, unknown column)."""

    exit_code = 2


# --- the LLM path -----------------------------------------------------------
class LLMError(ExtractionError):
    """The LLM endpoint failed after its retries (or answered nonsense)."""

    exit_code = 4


class LLMResponseError(LLMError):
    """The LLM answered, but not with a valid object after the re-asks."""


class EndpointDownError(LLMError):
    """Letter after letter fell back for the same transport reason: the run stopped.

    Raised by the loop's circuit breaker (:class:`llm_extract.loop.FallbackBreaker`)
    so an archive is not silently degraded to the parser's records.
    """


class RecordValidationError(ExtractionError):
    """A record (e.g. a gold fixture or a prediction file) does not validate."""

    exit_code = 2


# --- the batch's workers and machine ------------------------------------------
class WorkerCrashed(ExtractionError):
    """The worker process extracting a letter died under it (a native crash, a
    signal, the kernel's OOM killer); the batch replaced it and went on."""


class MemoryLimitExceeded(InputError):
    """A letter needed more memory than its worker may have (``worker_memory_mb``)."""


class DiskFullError(ExtractionError):
    """The disk holding the batch's store is full: the run stopped, the store is
    intact, and the same command resumes once there is space."""

    exit_code = 6
