"""End to end in a real headless Chromium: open a flagged letter, correct a field,
accept the letter with the keyboard, and find the correction in the export.

Needs Playwright (the ``review`` extra's test dependency, PyPI ``playwright``)
and a Chromium binary: Debian's ``chromium`` (``/usr/bin/chromium``) or
``$LLM_EXTRACT_CHROMIUM``; Playwright's own browser download is not used.
Skips with the reason when either is missing, and fails instead when
``CI=true`` (CI installs both: see ``.ci/run``).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from review_support import make_base_store, review_server, run_cli

from llm_extract.devtools.browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.corpus]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true, so this is a failure: .ci/run must install it)")
    pytest.skip(reason)


def chromium_path() -> str:
    for candidate in (
        os.environ.get("LLM_EXTRACT_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    _unavailable(
        "no Chromium browser found (apt-get install chromium, or set LLM_EXTRACT_CHROMIUM)"
    )
    raise AssertionError  # unreachable


@pytest.fixture()
def browser():  # type: ignore[no-untyped-def]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable('Playwright is not installed (pip install -e ".[review,dev]")')
    exe = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_a_reviewer_corrects_a_flagged_letter_in_the_browser(
    browser,
    corpus: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    out = make_base_store(corpus, tmp_path)
    with review_server(out) as (url, token, _proc):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(f"{url}/?token={token}&reason=disagreement")
        assert page.url == f"{url}/?reason=disagreement"  # the token left the address bar
        page.locator("a.letter-link").first.click()
        page.wait_for_selector("#letter-text mark")
        assert "LLM:" in page.inner_text(".check")  # both readings of the disagreement

        # the flagged field is marked, and `f` goes to it
        flagged = page.locator(".field.flagged")
        assert flagged.count() == 1
        assert flagged.get_attribute("data-field") == "items[0].category"
        assert "check: readers_disagree" in flagged.inner_text()
        page.locator("body").click(position={"x": 5, "y": 200})
        page.keyboard.press("f")
        assert page.locator(".field.flagged.on").get_attribute("data-field") == "items[0].category"

        # the field's name shows its evidence in the letter
        age = page.locator('[id="f-patient.age"]')
        age.locator("a.jump").click()
        assert page.locator("mark.on").count() >= 1

        age.locator('input[name="value"]').fill("52")
        age.locator('button[value="set"]').click()
        page.wait_for_selector('[id="f-patient.age"] .tag.person')
        assert "set by browser test" in page.inner_text('[id="f-patient.age"]')
        here = page.url.split("?")[0].split("#")[0]

        # keyboard: `a` accepts the letter and opens the next one
        page.locator("body").click(position={"x": 5, "y": 200})
        with page.expect_navigation():
            page.keyboard.press("a")
        assert page.url.split("?")[0] != here
        letter_key = here.rsplit("/", 1)[1]

    assert run_cli("export", out, "--format", "csv") == 0
    with (out / "export" / "letters.csv").open(encoding="utf-8", newline="") as fh:
        (row,) = [r for r in csv.DictReader(fh) if r["key"] == letter_key]
    assert row["patient_age"] == "52"
    assert row["corrected_fields"] == "patient.age"
    assert (row["review_status"], row["reviewed_by"]) == ("reviewed", "browser test")
