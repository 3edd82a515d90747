"""llm-extract: typed, validated, source-grounded records from IMR Final Determination letters.

>>> from llm_extract import extract
>>> record = extract("../shared/corpus/letters/CM16-0239110.pdf", backend="rules")
"""

from importlib.metadata import PackageNotFoundError, version

from .api import close_backends, extract, extract_all, extract_many, get_backend
from .config import Config, load_config
from .errors import ExtractionError
from .loading import Letter, letter_from_text, load_letter, load_letters
from .loop import LetterResult
from .models import Item, Record, record_json_schema

try:
    __version__ = version("llm-extract")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "Config",
    "ExtractionError",
    "Item",
    "Letter",
    "LetterResult",
    "Record",
    "__version__",
    "close_backends",
    "extract",
    "extract_all",
    "extract_many",
    "get_backend",
    "letter_from_text",
    "load_config",
    "load_letter",
    "load_letters",
    "record_json_schema",
]
