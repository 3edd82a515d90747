"""Write the repository's example letter: ``examples/example-letter.pdf`` and its text.

The letter follows the layout of the 2016 IMR Final Determination letters (a
header block, the reviewer's credentials, a clinical case summary, then "IMR
ISSUES, DECISIONS AND RATIONALES" with one decision per disputed item), so the
README's first command and the tests can extract a real PDF in any clone,
without the corpus. Every name, value, date, case number and sentence in it is
invented; only the section headings and labels are the layout's.

The PDF is written by hand (Helvetica text objects, uncompressed streams, no
creation date or file id), so running this script twice gives the same bytes;
``tests/test_example_letter.py`` checks the committed files against it.

    python scripts/make_example_letter.py           # (re)write examples/
    python scripts/make_example_letter.py --check   # exit 1 if examples/ differs
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PDF_PATH = ROOT / "examples" / "example-letter.pdf"
TXT_PATH = ROOT / "examples" / "example-letter.txt"

# Header rows: (label, value) pairs, the second pair in the right-hand column.
HEADER = [
    [("Case Number:", "CM99-0000001")],
    [("Date Assigned:", "03/14/2016"), ("Date of Injury:", "08/05/2015")],
    [("Decision Date:", "04/11/2016"), ("UR Denial Date:", "02/19/2016")],
    [("Priority:", "Standard"), ("Application Received:", "03/08/2016")],
]

# The body: ("h", heading) or ("p", paragraph); paragraphs are wrapped to WIDTH.
BODY: list[tuple[str, str]] = [
    ("h", "HOW THE IMR FINAL DETERMINATION WAS MADE"),
    (
        "p",
        "This is an example letter written for the documentation and tests of llm-extract. "
        "It follows the layout of the Final Determination letters of 2016, but every name, "
        "date, case number and clinical detail in it is invented. No real worker, reviewer or "
        "claim is described here.",
    ),
    ("p", "The Expert Reviewer has the following credentials:"),
    ("p", "State(s) of Licensure: California"),
    ("p", "Certification(s)/Specialty: Orthopaedic Surgery, Sports Medicine"),
    ("h", "CLINICAL CASE SUMMARY"),
    (
        "p",
        "The expert reviewer developed the following clinical case summary based on a review "
        "of the case file, including all medical records:",
    ),
    (
        "p",
        "The injured worker is a 47 year old female warehouse clerk who sustained an industrial "
        "injury on 08-05-15 while lifting boxes of tile onto a shelf. The injured worker was diagnosed "
        "as having right shoulder impingement syndrome and lumbar sprain. Treatment to date "
        "has included rest, a home exercise program and anti-inflammatory medication. The "
        "progress report dated 02-02-16 noted aching pain of the right shoulder on reaching "
        "overhead and stiffness of the low back after sitting. Examination showed a positive "
        "impingement sign on the right and tenderness of the lumbar paraspinal muscles. The "
        "treatment plan included naproxen, a course of physical therapy for the right shoulder "
        "and acupuncture for the low back. A Utilization Review letter dated 02-19-16 "
        "non-certified the naproxen and the physical therapy and modified the acupuncture.",
    ),
    ("h", "IMR ISSUES, DECISIONS AND RATIONALES"),
    (
        "p",
        "The Final Determination was based on decisions for the disputed items/services set "
        "forth below:",
    ),
    ("p", "Naproxen sodium 550mg #60: Upheld"),
    (
        "p",
        "Claims Administrator guideline: Decision based on MTUS Chronic Pain Medical "
        "Treatment 2016, Section(s): NSAIDs (non-steroidal anti-inflammatory drugs).",
    ),
    (
        "p",
        "MAXIMUS guideline: Decision based on MTUS Chronic Pain Medical Treatment 2016, "
        "Section(s): NSAIDs, specific drug list & adverse effects.",
    ),
    (
        "p",
        "Decision rationale: The guidelines support anti-inflammatory medication at the "
        "lowest dose for the shortest time. The records show that naproxen has been taken "
        "for several months without any measured gain in function or any account of side "
        "effects. Continued use is therefore not supported, and the request is not "
        "medically necessary.",
    ),
    ("p", "Physical therapy 2 times a week for 4 weeks for the right shoulder: Overturned"),
    (
        "p",
        "Claims Administrator guideline: Decision based on Non-MTUS Citation Official "
        "Disability Guidelines (ODG), Shoulder, Physical therapy.",
    ),
    (
        "p",
        "MAXIMUS guideline: Decision based on MTUS Shoulder Complaints 2004, Section(s): "
        "Initial Care, Physical Methods.",
    ),
    (
        "p",
        "Decision rationale: The guidelines recommend a short course of supervised therapy "
        "for impingement that has not settled with rest and home exercise. This worker has "
        "had no formal therapy for the shoulder, and eight visits fall within the number the "
        "guidelines allow. The request is medically necessary.",
    ),
    (
        "p",
        "Acupuncture 12 sessions for the lumbar spine was the original request. Acupuncture 6 "
        "sessions for the lumbar spine was authorized by the Claims Administrator. The "
        "remaining IMR eligible portion of the original request,\n"
        "Acupuncture 6 sessions for the lumbar spine: Upheld",
    ),
    (
        "p",
        "Claims Administrator guideline: Decision based on MTUS Acupuncture Medical Treatment "
        "Guidelines 2016.",
    ),
    (
        "p",
        "MAXIMUS guideline: Decision based on MTUS Acupuncture Medical Treatment Guidelines 2016.",
    ),
    (
        "p",
        "Decision rationale: The guidelines allow an initial trial of up to six acupuncture "
        "sessions, with more only when the trial shows a gain in function. The six sessions "
        "already authorized are the trial; the further six cannot be judged before it has "
        "taken place. The remaining portion of the request is not medically necessary.",
    ),
]

WIDTH = 90  # characters per wrapped line
FONT_SIZE = 10
LEADING = 13  # points between baselines
LEFT = 60
RIGHT_COLUMN = 320
VALUE_OFFSET = 96  # the value's column right of its label
TOP = 740
BOTTOM = 60


def _wrap(paragraph: str) -> list[str]:
    # break_on_hyphens=False: a line never ends inside a hyphenated word, so
    # the text layer has no line-end hyphens to resolve.
    # A newline in a paragraph is a forced line break, as the letters put the
    # last part of a partial certification's statement on its own line.
    return [
        line
        for part in paragraph.split("\n")
        for line in textwrap.wrap(part, WIDTH, break_on_hyphens=False, break_long_words=False)
    ]


def _header_lines() -> list[str]:
    """The header as text: the right-hand column after the left one, as a
    layout-keeping text extractor writes it."""
    lines = []
    for row in HEADER:
        cells = [f"{label} {value}" for label, value in row]
        lines.append("".join(cell.ljust(44) for cell in cells).rstrip())
    return lines


def letter_text() -> str:
    """The letter's text, line by line as the PDF draws it."""
    lines = _header_lines()
    for kind, text in BODY:
        lines.append("")
        lines.extend([text] if kind == "h" else _wrap(text))
    return "\n".join(lines) + "\n"


# --- the PDF --------------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    if not text.isascii():
        raise ValueError(f"the example letter is ASCII only (WinAnsi Helvetica): {text!r}")
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("ascii") + b")"


def _show(font: str, x: float, y: float, text: str) -> bytes:
    return b"BT /%s %d Tf %.2f %.2f Td %s Tj ET\n" % (
        font.encode(),
        FONT_SIZE,
        x,
        y,
        _pdf_string(text),
    )


def _heading_x(text: str) -> float:
    # Centred roughly: Helvetica-Bold capitals average ~0.68 em.
    return max(LEFT, (612 - len(text) * FONT_SIZE * 0.68) / 2)


def _pages() -> list[bytes]:
    """The content stream of each page."""
    pages: list[bytes] = []
    ops = b""
    y = TOP

    def need(lines: int) -> None:
        nonlocal ops, y
        if y - lines * LEADING < BOTTOM:
            pages.append(ops)
            ops, y = b"", TOP

    for row in HEADER:
        for col, (label, value) in enumerate(row):
            x = LEFT if col == 0 else RIGHT_COLUMN
            if label == "Application Received:":
                # As the letters print it: "Application" over "Received:",
                # the date level with the first word.
                ops += _show("F1", x, y, "Application")
                ops += _show("F1", x, y - LEADING, "Received:")
                ops += _show("F1", x + VALUE_OFFSET, y, value)
            else:
                ops += _show("F1", x, y, label)
                ops += _show("F1", x + VALUE_OFFSET, y, value)
        y -= LEADING
    y -= LEADING
    for kind, text in BODY:
        if kind == "h":
            need(3)  # a heading is never the last line of a page
            y -= LEADING // 2
            ops += _show("F2", _heading_x(text), y, text)
            y -= LEADING
            continue
        lines = _wrap(text)
        for i, line in enumerate(lines):
            need(1 if i else min(2, len(lines)))
            ops += _show("F1", LEFT, y, line)
            y -= LEADING
        y -= LEADING // 2
    pages.append(ops)
    return pages


def letter_pdf() -> bytes:
    """The PDF: catalog, page tree, two standard fonts, one page + stream per page."""
    streams = _pages()
    n_pages = len(streams)
    first_page = 5  # objects 1-4: catalog, pages, Helvetica, Helvetica-Bold
    page_ids = [first_page + 2 * i for i in range(n_pages)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % p for p in page_ids), n_pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for page_id, stream in zip(page_ids, streams, strict=True):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%sendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if examples/ differs from this script"
    )
    args = parser.parse_args(argv)
    wanted = {PDF_PATH: letter_pdf(), TXT_PATH: letter_text().encode("ascii")}
    if args.check:
        stale = [p for p, data in wanted.items() if not p.exists() or p.read_bytes() != data]
        for path in stale:
            print(f"{path.relative_to(ROOT)} differs: run python scripts/make_example_letter.py")
        return 1 if stale else 0
    for path, data in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
