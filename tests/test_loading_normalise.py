"""normalise_text's ASCII fast path gives exactly what ftfy gives, and ftfy still repairs."""

from __future__ import annotations

import random
from pathlib import Path

import ftfy
import pytest

from llm_extract.loading import _fix_text, letter_from_text, normalise_text


def ftfy_reference(raw: str) -> str:
    return ftfy.fix_text(raw, normalization="NFC", uncurl_quotes=False, fix_line_breaks=True)


def test_mojibake_is_still_repaired() -> None:
    raw = "Labor Code Â§ 4610.5 and the doctorâ€™s report\r\nnext line"
    assert normalise_text(raw) == "Labor Code § 4610.5 and the doctor’s report\nnext line"


@pytest.mark.parametrize(
    "raw",
    [
        "plain ASCII letter\nwith lines\n",
        "CRLF line ends\r\nand a lone CR\rhere\r\n",
        "an entity: Smith &amp; Jones, &lt;b&gt;",
        "an entity next to a tag <b>&amp;</b>",
        "a terminal escape \x1b[31mred\x1b[0m and a NUL \x00 and DEL \x7f",
        "form feed \x0c and tab \t stay",
        "fullwidth ＡＢＣ and a ligature ﬁ",
    ],
)
def test_fast_path_matches_ftfy(raw: str) -> None:
    assert _fix_text(raw) == ftfy_reference(raw)


def test_fast_path_matches_ftfy_on_random_text() -> None:
    rng = random.Random(7)
    pieces = ["a", "B", " ", "\n", "\r", "\r\n", "\t", "&", "&amp;", "<", ";", "\x1b[0m", "\x0c"]
    pieces += [chr(i) for i in range(128)]
    # mojibake, entities, ligatures, wide forms, odd line breaks, BOM, PDFium's U+FFFE
    pieces += ["Â§", "â€™", "Ã©", "&eacute;", "ﬁ", "Ａ", "\u2028", "\x85", "\ufeff", "\ufffe", "§"]
    for _ in range(5000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        assert _fix_text(raw) == ftfy_reference(raw), repr(raw)


def test_a_tag_turns_entity_repair_off_for_the_lines_after_it_as_in_ftfy() -> None:
    raw = "<b>bold</b> in line one\nplain line\nCaf\u00e9 &amp; bar\n"
    assert _fix_text(raw) == ftfy_reference(raw)
    assert "&amp;" in _fix_text(raw)


def test_fast_path_matches_ftfy_on_the_seeds(seed_paths: list[Path]) -> None:
    for path in seed_paths:
        text = path.read_text(encoding="utf-8")
        for raw in (text, text.replace("\n", "\r\n"), text.replace("§", "Â§")):
            assert _fix_text(raw) == ftfy_reference(raw), path.name


def test_letter_text_is_normalised_the_same_way(seed_paths: list[Path]) -> None:
    text = seed_paths[0].read_text(encoding="utf-8").replace("\n", "\r\n")
    letter = letter_from_text(text, "x")
    assert "\r" not in letter.text
    assert letter.text == ftfy_reference(text).replace("\x00", "")
