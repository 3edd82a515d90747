"""The letter as a document: its text helpers and its segmentation.

Neutral ground under both peer backends: the ``rules`` parser and the LLM
backends cut a letter into header, summary and item blocks the same way, and
neither reaches into the other for it.
"""

from .segment import ItemBlock, Section, Segments, segment_letter

__all__ = ["ItemBlock", "Section", "Segments", "segment_letter"]
