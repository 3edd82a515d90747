"""The deterministic parser (``rules`` backend): regexes over the letter's sections."""

from ..document.segment import ItemBlock, Section, Segments, segment_letter
from .backend import RULES_VERSION, RulesBackend, parse_letter

__all__ = [
    "RULES_VERSION",
    "ItemBlock",
    "RulesBackend",
    "Section",
    "Segments",
    "parse_letter",
    "segment_letter",
]
