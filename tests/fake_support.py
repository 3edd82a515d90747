"""The client configuration every test against the fake OpenAI-compatible endpoint uses."""

from __future__ import annotations

from typing import Any

from llm_extract.config import Config, load_config
from llm_extract.devtools.fake_openai import FakeOpenAI


def fake_config(fake: FakeOpenAI, **overrides: Any) -> Config:
    """JSON mode, no schema in the prompt, no retries and no re-asks: one request per call,
    so a scripted reply is the answer the backend gets."""
    settings: dict[str, Any] = {
        "base_url": fake.base_url,
        "model": "fake-model",
        "instructor_mode": "json",
        "schema_in_prompt": "no",
        "max_retries": 0,
        "max_reasks": 0,
    }
    return load_config(env={}, **(settings | overrides))
