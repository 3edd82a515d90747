"""End to end on the real embedded model (``pytest -m live``; excluded by default).

Starts the embedded llama.cpp server (Qwen2.5-Coder-1.5B-Instruct Q4_K_M) the
way a user's first ``llm-extract extract`` does, and runs both LLM backends on
a real corpus letter.  Slow on 2 cores: about a minute per backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_extract.api import close_backends, extract
from llm_extract.backends import local_extra_installed
from llm_extract.config import load_config
from llm_extract.llm.prompting import prompt_version
from llm_extract.loading import load_letter
from llm_extract.models import Category
from llm_extract.rules.backend import parse_letter

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not local_extra_installed(), reason="the `local` extra is not installed"),
]

LETTER = "CM16-0230548"  # 2 items: MRI upheld, acupuncture overturned


@pytest.fixture(scope="module", autouse=True)
def _stop_server() -> object:
    yield None
    close_backends()


@pytest.mark.parametrize("backend", ["hybrid", "llm"])
def test_live_backend_on_a_real_letter(backend: str, letters_dir: Path) -> None:
    letter = load_letter(letters_dir / f"{LETTER}.pdf")
    config = load_config(env={}, timeout_s=900.0)  # base_url None: the embedded server
    record = extract(letter, backend=backend, config=config)
    rules = parse_letter(letter)
    prov = record.provenance
    assert prov is not None and prov.backend == backend and not prov.fallback
    assert prov.model and prov.prompt_version == prompt_version()
    assert prov.usage.prompt_tokens > 0 and prov.usage.completion_tokens > 0
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert [i.category for i in record.items] == [Category.IMAGING, Category.ACUPUNCTURE]
    assert record.date_of_injury == rules.date_of_injury
