"""The repository's own example letter (examples/): made by a script, extracted
without the corpus.

The expected values are written out here from what the script invents, field by
field, so a parser change that reads the example differently fails this test.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner

import llm_extract
from llm_extract.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PDF = ROOT / "examples" / "example-letter.pdf"
TXT = ROOT / "examples" / "example-letter.txt"


def _script() -> ModuleType:
    path = ROOT / "scripts" / "make_example_letter.py"
    spec = importlib.util.spec_from_file_location("make_example_letter", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_files_are_the_scripts_output() -> None:
    script = _script()
    pdf = script.letter_pdf()
    assert pdf == script.letter_pdf(), "the script must write the same bytes every run"
    assert PDF.read_bytes() == pdf, "run python scripts/make_example_letter.py"
    assert TXT.read_bytes() == script.letter_text().encode("ascii")
    assert script.main(["--check"]) == 0


def test_the_pdf_has_a_text_layer() -> None:
    doc = pdfium.PdfDocument(str(PDF))
    try:
        texts = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()
    assert len(texts) == 2
    assert texts[0].startswith("Case Number: CM99-0000001")
    assert "IMR ISSUES, DECISIONS AND RATIONALES" in "".join(texts)


@pytest.mark.parametrize("path", [PDF, TXT], ids=["pdf", "txt"])
def test_rules_reads_every_invented_value(path: Path) -> None:
    record = llm_extract.extract(path, backend="rules")

    assert record.case_number == "CM99-0000001"
    assert record.date_assigned == dt.date(2016, 3, 14)
    assert record.date_of_injury == dt.date(2015, 8, 5)
    assert record.decision_date == dt.date(2016, 4, 11)
    assert record.ur_denial_date == dt.date(2016, 2, 19)
    assert record.application_received == dt.date(2016, 3, 8)
    assert record.priority == "standard"
    assert record.reviewer.licensure_states == ["California"]
    assert record.reviewer.specialties == ["Orthopaedic Surgery", "Sports Medicine"]
    assert record.reviewer.subspecialties == []
    assert record.patient.age == 47
    assert record.patient.sex == "female"
    assert record.patient.occupation == "warehouse clerk"
    assert record.diagnoses == ["right shoulder impingement syndrome", "lumbar sprain"]
    assert record.provenance.layout == "maximus-2016"
    assert record.needs_review is False
    assert record.review_reasons == []

    assert len(record.items) == 3
    naproxen, therapy, acupuncture = record.items

    assert naproxen.request == "Naproxen sodium 550mg #60"
    assert naproxen.original_request is None
    assert naproxen.decision == "upheld"
    assert naproxen.category == "medication"
    assert naproxen.quantity == 60
    assert naproxen.frequency_per_week is None
    assert naproxen.duration_weeks is None
    assert naproxen.body_region is None
    assert naproxen.medication is not None
    assert naproxen.medication.name == "Naproxen sodium"
    assert naproxen.medication.strength == "550mg"
    assert naproxen.medication.days_supply is None
    assert naproxen.guideline_sources.claims_administrator == ["mtus"]
    assert naproxen.guideline_sources.maximus == ["mtus"]
    assert naproxen.maximus_guideline == (
        "Decision based on MTUS Chronic Pain Medical Treatment 2016, "
        "Section(s): NSAIDs, specific drug list & adverse effects."
    )

    assert therapy.request == ("Physical therapy 2 times a week for 4 weeks for the right shoulder")
    assert therapy.decision == "overturned"
    assert therapy.category == "physical_therapy"
    assert therapy.quantity == 8
    assert therapy.frequency_per_week == 2
    assert therapy.duration_weeks == 4
    assert therapy.body_region == "right shoulder"
    assert therapy.medication is None
    assert therapy.guideline_sources.claims_administrator == ["odg"]
    assert sorted(therapy.guideline_sources.maximus) == ["acoem", "mtus"]

    assert acupuncture.request == "Acupuncture 6 sessions for the lumbar spine"
    assert acupuncture.original_request == "Acupuncture 12 sessions for the lumbar spine"
    assert acupuncture.decision == "upheld"
    assert acupuncture.category == "acupuncture"
    assert acupuncture.quantity == 6
    assert acupuncture.body_region == "lumbar spine"
    assert acupuncture.guideline_sources.claims_administrator == ["mtus"]
    assert acupuncture.guideline_sources.maximus == ["mtus"]

    text = llm_extract.load_letter(path).text
    for item, word in zip(record.items, ["Upheld", "Overturned", "Upheld"], strict=True):
        assert item.retrospective is False
        assert item.date_of_service is None
        assert item.cpt_codes == []
        # Each item points at its own decision statement in the letter's text.
        assert item.span is not None
        statement = text[item.span.start : item.span.end]
        assert statement.endswith(f": {word}")
        assert item.request.split()[0] in statement


def test_readme_first_command_on_the_rules_backend() -> None:
    # The README's first command, with the rules backend (no model needed).
    res = CliRunner().invoke(cli, ["extract", str(PDF), "--backend", "rules"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["case_number"] == "CM99-0000001"
    assert [item["decision"] for item in record["items"]] == ["upheld", "overturned", "upheld"]


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    block = readme[readme.index("```bash") + 1 :]
    first, second = block[0], block[1]
    # The first extracts the example letter the repository carries (no corpus needed) ...
    assert first.endswith("llm-extract extract examples/example-letter.pdf")
    assert (ROOT / first.rsplit(" ", 1)[1]).is_file()
    # ... the second runs the tests exactly as CI's last line does.
    ci_last = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert second.endswith(ci_last)
