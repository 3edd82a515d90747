"""The letter as a document: its text helpers and its segmentation.

Neutral ground under both peer backends: the ``rules`` parser and the LLM
backends cut a letter into header, summary and item blocks the same way, and
neither reaches into the other for it.

The package itself imports nothing: :mod:`llm_extract.loading` reads a text's
layout (:mod:`.layout`, which imports nothing) while :mod:`.segment` works on
the :class:`~llm_extract.loading.Letter` that loading makes, so importing the
segmenter here would tie the two into a cycle.
"""
