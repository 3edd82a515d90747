"""The locator's fast paths give what the plain code gives.

``evidence._View`` builds most normalised views without its per-character
offset map, and ``occupation.has_occupation_cue`` searches the lower-cased text
instead of running the ``re.I`` cue; both must agree with the plain code on
every input (same ``norm``, same offsets, same answer).  Speed itself is
measured in ``benchmarks/bench_rules.py``, never here.
"""

from __future__ import annotations

import random
from pathlib import Path

from llm_extract.evidence import _View
from llm_extract.loading import load_letter
from llm_extract.rules import occupation

TRICKY = [
    "Radicul-\nopathy of the L4-\n5 level, İstanbul ΑΣ ΒΓ",
    "foo  bar_baz\ufffeq  x - \n y",
    "  lead  and  trail  ",
    "",
    "He WORKS  as a driver; job title: clerk",
    "networks as; _work as; employedx; by\ntrade; pOSITION AS; occupation  was",
    "\u212aelvin work as ſ",
]


def _plain(text: str, lo: int, hi: int, punctuation: bool) -> _View:
    view = _View.__new__(_View)
    view._text, view._lo, view._hi, view._punctuation = text, lo, hi, punctuation
    view._build_index()
    return view


def _assert_same_view(text: str, lo: int, hi: int) -> None:
    for punctuation in (False, True):
        fast, plain = (
            _View(text, lo, hi, punctuation=punctuation),
            _plain(text, lo, hi, punctuation),
        )
        assert fast.norm == plain.norm
        assert plain.index is not None
        for p in range(len(fast.norm)):
            assert fast.span(p, p + 1) == plain.span(p, p + 1)


def _slices(text: str, rnd: random.Random, n: int) -> list[tuple[int, int]]:
    out = [(0, len(text))]
    for _ in range(n):
        lo = rnd.randrange(max(1, len(text)))
        out.append((lo, min(len(text), lo + rnd.choice((15, 150, 1500)))))
    return out


def test_view_and_cue_fast_paths_on_tricky_text() -> None:
    rnd = random.Random(0)
    for text in TRICKY:
        for lo, hi in _slices(text, rnd, 10):
            _assert_same_view(text, lo, hi)
            part = text[lo:hi]
            assert occupation.has_occupation_cue(part) == bool(
                occupation.OCCUPATION_CUE.search(part)
            )


def test_view_and_cue_fast_paths_on_corpus_letters(
    seed_paths: list[Path], letter_paths: list[Path]
) -> None:
    rnd = random.Random(1)
    for path in [*seed_paths[:2], *letter_paths[:6]]:
        text = load_letter(path).text
        assert occupation.has_occupation_cue(text) == bool(occupation.OCCUPATION_CUE.search(text))
        for lo, hi in _slices(text, rnd, 6):
            _assert_same_view(text, lo, hi)
            part = text[lo:hi]
            assert occupation.has_occupation_cue(part) == bool(
                occupation.OCCUPATION_CUE.search(part)
            )
