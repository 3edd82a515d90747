"""Take docs/review.png: the review page of a flagged letter, in headless Chromium.

    python scripts/review_screenshot.py URL_WITH_TOKEN [docs/review.png]

URL is what ``llm-extract review OUTDIR`` prints (a store with a flagged
letter: ``llm_extract.devtools.review_fixtures.flag_store`` makes one from a
rules batch).  Opens the first letter with a disagreement, sets the patient's
age as a reviewer would, and shows item 1's category with its evidence.
"""

from __future__ import annotations

import sys

from playwright.sync_api import sync_playwright

from llm_extract.devtools.browser import CHROMIUM, CHROMIUM_ARGS


def main() -> None:
    url = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/review.png"
    base = url.split("/?")[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url)
        page.goto(f"{base}/?reason=disagreement")
        page.locator("a.letter-link").first.click()
        age = page.locator('[id="f-patient.age"]')
        age.locator('input[name="value"]').fill(
            str(int(age.locator("input[name=value]").input_value()) + 1)
        )
        age.locator('button[value="set"]').click()
        page.wait_for_selector('[id="f-patient.age"] .tag.person')
        cat = page.locator('[id="f-items[0].category"]')
        cat.scroll_into_view_if_needed()
        cat.locator("a.jump").click()
        page.evaluate(
            "document.querySelector('section.panel').scrollTop ="
            " document.getElementById('f-items[0].category').offsetTop - 420"
        )
        page.wait_for_timeout(800)
        page.screenshot(path=out)
        browser.close()


if __name__ == "__main__":
    main()
