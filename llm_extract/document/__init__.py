"""The letter as a document: its text helpers and its segmentation.

Neutral ground under both peer backends: the ``rules`` parser and the LLM
backends cut a letter into header, summary and item blocks the same way, and
neither reaches into the other for it.

It sits above :mod:`llm_extract.loading` (it works on the
:class:`~llm_extract.loading.Letter` loading makes); what loading itself needs
to tell letters apart lives below it (:mod:`llm_extract.layout`,
:mod:`llm_extract.bundle`).
"""
