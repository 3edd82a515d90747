"""The deterministic parser (``rules`` backend): regexes over the letter's sections."""

from .backend import RULES_VERSION, RulesBackend, parse_letter
from .segment import ItemBlock, Section, Segments, segment_letter

__all__ = [
    "RULES_VERSION",
    "ItemBlock",
    "RulesBackend",
    "Section",
    "Segments",
    "parse_letter",
    "segment_letter",
]
