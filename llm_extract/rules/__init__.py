"""The deterministic parser (``rules`` backend): regexes over the letter's sections."""

from ..document.segment import ItemBlock, Section, Segments, segment_letter
from .backend import RULES_VERSION, RulesBackend, parse_letter
from .readings import ParsedLetter, Reading, Verdict

__all__ = [
    "RULES_VERSION",
    "ItemBlock",
    "ParsedLetter",
    "Reading",
    "RulesBackend",
    "Section",
    "Segments",
    "Verdict",
    "parse_letter",
    "segment_letter",
]
