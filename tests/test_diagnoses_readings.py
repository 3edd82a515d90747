"""The other readings of a diagnosis list: derived from its junctions and entries,
carried by the reading and its evidence, never changing the value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llm_extract.document.text import clean
from llm_extract.loading import load_letter
from llm_extract.rules.backend import parse_letter
from llm_extract.rules.diagnoses_readings import read_diagnoses


@pytest.mark.parametrize(
    ("text", "value", "kinds", "other"),
    [
        # Every junction separates two sited conditions: one reading only.
        (
            "Diagnoses include lumbar strain, cervical strain and left knee pain.",
            ["lumbar strain", "cervical strain", "left knee pain"],
            [],
            None,
        ),
        # An ICD-style name's commas and "and" are no junctions.
        (
            "Diagnoses include strain of muscle, fascia and tendon of the neck; lumbar radiculopathy.",
            ["strain of muscle, fascia and tendon of the neck", "lumbar radiculopathy"],
            [],
            None,
        ),
        # A cut that leaves a half naming no condition.
        (
            "Diagnoses include chronic neck and shoulder pain, depression.",
            ["chronic neck", "shoulder pain", "depression"],
            ["join"],
            ["chronic neck and shoulder pain", "depression"],
        ),
        # A bare condition beside a sited one may share its site.
        (
            "Diagnoses include right elbow contusion and abrasion.",
            ["right elbow contusion", "abrasion"],
            ["join"],
            ["right elbow contusion and abrasion"],
        ),
        # An entry of a ';' list that joins two conditions at a comma.
        (
            "Diagnoses include neck strain, tension headaches; low back pain.",
            ["neck strain, tension headaches", "low back pain"],
            ["split"],
            ["neck strain", "tension headaches", "low back pain"],
        ),
        # A procedure beside the diagnoses (RECORD.md: not a diagnosis).
        (
            "Diagnoses include cervical strain, status post lumbar fusion.",
            ["cervical strain", "status post lumbar fusion"],
            ["drop"],
            ["cervical strain"],
        ),
        # A condition followed by its procedure: without it, or cut before it.
        (
            "Diagnoses include right knee sprain s/p arthroscopy, left ankle sprain.",
            ["right knee sprain s/p arthroscopy", "left ankle sprain"],
            ["drop", "cut"],
            ["right knee sprain", "left ankle sprain"],
        ),
    ],
)
def test_other_readings_follow_the_lists_structure(
    text: str, value: list[str], kinds: list[str], other: list[str] | None
) -> None:
    listed = read_diagnoses(clean(text))
    assert listed.diagnoses == value
    assert [o.kind for o in listed.others] == kinds
    if other is not None:
        assert tuple(other) in [o.diagnoses for o in listed.others]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_every_corpus_letter_hands_its_other_readings_over_with_the_value(
    letter_paths: list[Path], seed_paths: list[Path]
) -> None:
    """On every corpus letter: the evidence counts the reading's other readings,
    each differs from the value and uses only words of the case summary, and the
    record's JSON names the count only where there is one."""
    with_others = 0
    for path in [*seed_paths, *letter_paths]:
        parsed = parse_letter(load_letter(path))
        r = parsed.reading("diagnoses")
        assert r is not None
        ev = parsed.record.evidence_for("diagnoses")
        assert ev is not None and ev.alternatives == len(r.others)
        summary = parsed.segments.summary
        said = _words(summary.text(parsed.places.loc.text)) if summary else set()
        for other in r.others:
            assert list(other) != r.value, path.name
            assert _words(" ".join(other)) <= said, (path.name, other)
        dumped = json.loads(parsed.record.to_json())
        by_field = {e["field"]: e for e in dumped["evidence"]}
        assert ("alternatives" in by_field["diagnoses"]) == bool(r.others)
        assert not any("alternatives" in e for f, e in by_field.items() if f != "diagnoses")
        with_others += bool(r.others)
    # The corpus has lists that read two ways and many that read one.
    assert 0 < with_others < len(letter_paths) // 2
