"""Text from any extractor: every route on real corpus letters, the header readers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from llm_extract import extract
from llm_extract.cli import cli as cli_main
from llm_extract.config import ConfigError, load_config
from llm_extract.loading import letter_from_text, load_letter
from llm_extract.models import Priority
from llm_extract.rules.header import parse_header
from llm_extract.textroutes import TEXT_ROUTES, repair_route_text, route_available

EXTERNAL = [r for r in TEXT_ROUTES if r not in ("pdfium", "ocr")]
# Letters with the header quirks the issue names (split "Application Received",
# an empty "Date of Injury"), several items, a partial certification.
LETTERS = ("CM16-0239110", "CM16-0231884", "CM16-0236380", "CM17-0013077")
COMPARED = (
    "items",
    "case_number",
    "date_assigned",
    "decision_date",
    "ur_denial_date",
    "application_received",
    "priority",
    "date_of_injury",
    "reviewer",
    "patient",
)


def _needs(route: str) -> None:
    why = route_available(route)
    if why is not None:
        pytest.skip(f"route {route} unavailable: {why}")


def _fields(record: Any) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    for item in data["items"]:
        item.pop("span")
    return {k: data[k] for k in COMPARED}


@pytest.mark.parametrize("route", EXTERNAL)
def test_route_gives_the_pdfium_record(route: str, letters_dir: Path) -> None:
    _needs(route)
    for lid in LETTERS:
        path = letters_dir / f"{lid}.pdf"
        base = extract(load_letter(path), backend="rules")
        letter = load_letter(path, text_from=route)
        assert letter.text_source == route
        got = extract(letter, backend="rules")
        assert got.provenance is not None and got.provenance.text_source == route
        assert got.provenance.layout == "maximus-2016"
        # The route adds no review reason of its own (a letter the parser
        # doubts, e.g. its diagnosis list, is flagged the same on every route) --
        # but where pypdf's layout mode cuts a word of the diagnosis list
        # ("strain of m uscle"), the broken list is rightly doubted.
        extra = [r for r in got.review_reasons if r not in base.review_reasons]
        if route == "pypdf-layout" and got.diagnoses != base.diagnoses:
            extra = [r for r in extra if not r.startswith("diagnoses: ")]
        assert extra == [], (route, lid)
        assert set(base.review_reasons) <= set(got.review_reasons), (route, lid)
        if route == "pypdf-layout":
            # Best effort (docs/text-routes.md): pypdf's layout mode cuts words
            # where the PDF kerns them; the header, the item list and the
            # decisions survive, some request wordings do not.
            want, have = _fields(base), _fields(got)
            assert [i["decision"] for i in have.pop("items")] == [
                i["decision"] for i in want.pop("items")
            ], lid
            assert have == want, (route, lid)
            continue
        assert _fields(got) == _fields(base), (route, lid)


def test_config_reads_route_from_the_environment(letters_dir: Path) -> None:
    _needs("pdftotext")
    cfg = load_config({"LLM_EXTRACT_TEXT_FROM": "pdftotext", "LLM_EXTRACT_OCR": "never"})
    assert (cfg.text_from, cfg.ocr) == ("pdftotext", "never")
    letter = load_letter(letters_dir / "CM16-0239110.pdf", config=cfg)
    assert letter.text_source == "pdftotext"
    with pytest.raises(ConfigError, match="text_from"):
        load_config({"LLM_EXTRACT_TEXT_FROM": "acrobat"})


def test_missing_tool_is_a_typed_error_naming_the_install(
    letters_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from llm_extract.errors import BackendUnavailableError

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n == "pdftotext" else real_which(n))
    assert "apt-get install poppler-utils" in (route_available("pdftotext") or "")
    with pytest.raises(BackendUnavailableError, match="poppler-utils"):
        load_letter(letters_dir / "CM16-0239110.pdf", text_from="pdftotext")


def test_eval_text_from_route_and_compare(tmp_path: Path, corpus: Path) -> None:
    _needs("pdftotext")
    runner = CliRunner()
    outs = {}
    for route in ("pdfium", "pdftotext"):
        res = runner.invoke(
            cli_main,
            [
                "eval",
                "--backend",
                "rules",
                "--text-from",
                route,
                "--split",
                "holdout",
                "--limit",
                "3",
                "--letters",
                str(corpus),
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert doc["text_from"] == route
        assert doc["decision_accuracy"] == 1.0
        outs[route] = tmp_path / f"{route}.json"
        outs[route].write_text(res.stdout)
    assert (
        abs(
            json.loads(outs["pdftotext"].read_text())["mean_field_score"]
            - json.loads(outs["pdfium"].read_text())["mean_field_score"]
        )
        <= 0.01
    )
    res = runner.invoke(
        cli_main, ["eval", "--compare", str(outs["pdfium"]), str(outs["pdftotext"])]
    )
    assert res.exit_code == 0, res.output


# --- the header reader on each extractor's order (texts as the tools write them) ---

PDFTOTEXT_RAW = """Case Number:
Date Assigned:
Decision Date:
Priority:

CM16-0239110
12/22/2016
01/20/2017
Standard

Date of Injury:
UR Denial Date:
Application
Received:

10/18/2016
11/29/2016
12/13/2016
"""

PDFTOTEXT_LAYOUT = """Case Number:          CM16-0239110
Date Assigned:        12/22/2016                      Date of Injury:      10/18/2016
Decision Date:        01/20/2017                      UR Denial Date:      11/29/2016
Priority:             Standard                        Application          12/13/2016
                                                      Received:
"""

OCR_CONFUSED = """Case Number CM16-O239110
Date Assigned: l2/22/2016 Date 0f Injury: 10/18/2016
Decisi0n Date 01/20/2017 UR Denial Date: | 11/29/2016
Pri0rity: Standard Application 12/13/2016
Received:
"""


@pytest.mark.parametrize("text", [PDFTOTEXT_RAW, PDFTOTEXT_LAYOUT, OCR_CONFUSED])
def test_header_in_any_reading_order(text: str) -> None:
    h = parse_header(text)
    assert h.case_number == "CM16-0239110"
    assert h.date_assigned == dt.date(2016, 12, 22)
    assert h.date_of_injury == dt.date(2016, 10, 18)
    assert h.decision_date == dt.date(2017, 1, 20)
    assert h.ur_denial_date == dt.date(2016, 11, 29)
    assert h.application_received == dt.date(2016, 12, 13)
    assert h.priority is Priority.STANDARD


def test_label_block_with_a_missing_value_assigns_no_wrong_date() -> None:
    # Three date labels, two dates: which label is empty cannot be told.
    text = "Date of Injury:\nUR Denial Date:\nApplication\nReceived:\n\n11/29/2016\n12/13/2016\n"
    h = parse_header(text)
    assert h.date_of_injury is None and h.ur_denial_date is None
    assert h.application_received is None


def test_route_repairs() -> None:
    # pdftotext/pypdf drop a line-end hyphen or keep it at the line end.
    text = "right-sided cubital tunnel and right-\nsided carpal tunnel"
    assert "right\ufffesided" in repair_route_text("pdftotext", text)
    assert repair_route_text("pypdf", "right-sided and rightsided") == "right-sided and right-sided"
    # A word written joined many times is a word ("Postsurgical").
    many = "Postsurgical Postsurgical post-surgical"
    assert repair_route_text("pypdf", many) == many
    fixed = repair_route_text(
        "pypdf-layout", "Treatmen t of the Treatment, Non -MTUS, 2- 3, oldmale"
    )
    assert fixed == "Treatment of the Treatment, Non-MTUS, 2-3, old male"


def test_text_letter_keeps_its_source() -> None:
    letter = letter_from_text(
        "HOW THE IMR FINAL DETERMINATION WAS MADE\nMAXIMUS Federal Services\n", "x"
    )
    assert letter.text_source == "text"
    assert letter.layout.name == "seed-text"


def test_page_numbers_and_running_footers_between_lines_are_dropped(tmp_path: Path) -> None:
    from llm_extract.textroutes import strip_page_furniture

    pages = [
        "Fax from 555-0100  01/20/2017 10:22\nCase Number: CM16-0239110\nbody one\nPage 1 of 2",
        "Fax from 555-0100  01/20/2017 10:23\nOxycodone HCL ER 20mg #60 day\nPage 2 of 2",
    ]
    assert strip_page_furniture(pages) == [
        "Case Number: CM16-0239110\nbody one",
        "Oxycodone HCL ER 20mg #60 day",
    ]
    # A decision statement wrapped over a page break reads whole from a .txt
    # with form feeds (as pdftotext writes), the page number between its lines.
    letter_txt = Path(__file__).parent / "letters" / "rules_pdf_layout.txt"
    text = letter_txt.read_text()
    wrapped = "EMG (electromyography)/NCV (nerve conduction velocity) of the bilateral upper \n"
    assert wrapped in text
    paged = text.replace(wrapped, wrapped + "\n- 3 -\f")
    (tmp_path / "paged.txt").write_text(paged)
    want = extract(letter_txt, backend="rules")
    got = extract(tmp_path / "paged.txt", backend="rules")
    assert [(i.request, i.decision) for i in got.items] == [
        (i.request, i.decision) for i in want.items
    ]


def test_a_sentence_repeated_at_page_tops_is_not_a_running_header() -> None:
    from llm_extract.textroutes import strip_page_furniture

    same = (
        "Claims Administrator guideline: The Claims Administrator did not cite any medical evidence"
    )
    pages = [f"Case Number: CM17-0003619\n{same}\nfor its decision.", f"{same}\nx", f"{same}\ny"]
    assert strip_page_furniture(pages) == pages


def test_eval_says_a_route_is_skipped_when_its_tool_is_missing(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from llm_extract.cli import main

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n == "pdftotext" else real_which(n))
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "eval",
                "--backend",
                "rules",
                "--text-from",
                "pdftotext-layout",
                "--letters",
                str(corpus),
            ]
        )
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert "text route pdftotext-layout skipped" in err and "poppler-utils" in err
