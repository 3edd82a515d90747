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
    rules = parse_letter(letter).record
    prov = record.provenance
    assert prov is not None and prov.backend == backend and not prov.fallback
    assert prov.model and prov.prompt_version == prompt_version()
    if backend == "hybrid":
        # hybrid 2.2: the parser decides this letter with certainty, no call.
        assert prov.usage.prompt_tokens == prov.usage.completion_tokens == 0
    else:
        assert prov.usage.prompt_tokens > 0 and prov.usage.completion_tokens > 0
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
    assert [i.category for i in record.items] == [Category.IMAGING, Category.ACUPUNCTURE]
    assert record.date_of_injury == rules.date_of_injury


def test_live_hybrid_settles_a_doubted_diagnosis_list(letters_dir: Path) -> None:
    """A list the parser doubts is asked; the record keeps a grounded reading, flagged."""
    from llm_extract.document.segment import segment_letter
    from llm_extract.rules.summary import parse_summary

    letter = load_letter(letters_dir / "CM17-0010728.pdf")  # "…, possible rotator cuff tear and …;"
    seg = segment_letter(letter)
    assert seg.summary is not None
    (doubt,) = parse_summary(seg.summary.text(letter.text)).doubts
    rules = parse_letter(letter).record
    record = extract(letter, backend="hybrid", config=load_config(env={}, timeout_s=900.0))
    prov = record.provenance
    assert prov is not None and not prov.fallback and prov.usage.prompt_tokens > 0
    assert record.diagnoses in (rules.diagnoses, list(doubt.alternative or ()))
    assert record.needs_review and doubt.reason in record.review_reasons
    assert [i.decision for i in record.items] == [i.decision for i in rules.items]
