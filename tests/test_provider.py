"""Unit tests of the provider boundary: mode choice, retry policy parts, usage sums,
the returned objects, and the fake server's schema-driven answers."""

from __future__ import annotations

import email.utils
import pickle
import time
from datetime import date

import httpx
import openai
import pytest
from pydantic import BaseModel, Field, ValidationError

from llm_extract.config import Config, load_config
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply, minimal_instance
from llm_extract.errors import BackendUnavailableError
from llm_extract.models import Record
from llm_extract.provider import (
    CallUsage,
    LLMClient,
    MalformedBodyError,
    is_transient,
    resolve_mode,
    retry_after_seconds,
)


# -- mode per endpoint ------------------------------------------------------------
@pytest.mark.parametrize(
    ("base_url", "mode", "expected"),
    [
        (None, "auto", "json"),  # embedded llama.cpp: JSON mode, schema in response_format
        ("https://api.openai.com/v1", "auto", "tools"),
        ("http://localhost:8000/v1", "auto", "tools"),  # vLLM
        ("http://localhost:11434/v1", "auto", "tools"),  # Ollama
        (None, "tools", "tools"),
        ("http://localhost:8080/v1", "json", "json"),
        ("https://api.openai.com/v1", "json_schema", "json_schema"),
        ("http://x/v1", "md_json", "md_json"),
    ],
)
def test_resolve_mode(base_url: str | None, mode: str, expected: str) -> None:
    assert resolve_mode(Config(base_url=base_url, instructor_mode=mode)) == expected


def test_client_attributes_without_network() -> None:
    client = LLMClient(Config(base_url="http://localhost:11434/v1", model="qwen2.5:1.5b"))
    assert client.model == "qwen2.5:1.5b"
    assert client.mode == "tools"
    assert client.base_url == "http://localhost:11434/v1"
    client.close()  # nothing started: closing is a no-op


def test_embedded_client_is_lazy(tmp_path: object) -> None:
    # Constructing the embedded client neither assembles the model nor starts a server.
    client = LLMClient(Config(cache_dir=tmp_path))  # type: ignore[arg-type]
    assert client.model == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert client.mode == "json"
    assert client.base_url is None
    client.close()


def test_embedded_client_names_the_model_it_serves(tmp_path: object) -> None:
    client = LLMClient(Config(cache_dir=tmp_path, model="gpt-4o-mini"))  # type: ignore[arg-type]
    assert client.model == "qwen2.5-coder-1.5b-instruct-q4_k_m"


def test_remote_endpoint_needs_a_model() -> None:
    with pytest.raises(BackendUnavailableError, match="--model"):
        LLMClient(Config(base_url="https://api.openai.com/v1"))


def test_api_key_from_named_variable() -> None:
    cfg = load_config(env={"LLM_EXTRACT_API_KEY_ENV": "MY_KEY"})
    assert cfg.api_key_env == "MY_KEY"


# -- retry policy parts -----------------------------------------------------------------
def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://x/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError("boom", response=response, body=None)


def test_retry_after_seconds_forms() -> None:
    assert retry_after_seconds(_status_error(429, {"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(_status_error(429, {"Retry-After": "0.5"})) == 0.5
    assert retry_after_seconds(_status_error(429, {"retry-after-ms": "250"})) == 0.25
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after_seconds(_status_error(503, {"Retry-After": future})) or 0) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_seconds(_status_error(503, {"Retry-After": past})) == 0.0
    assert retry_after_seconds(_status_error(429, {"Retry-After": "soon"})) is None
    assert retry_after_seconds(_status_error(429)) is None
    assert retry_after_seconds(ValueError("no response")) is None


@pytest.mark.parametrize(
    ("status", "transient"),
    [(400, False), (401, False), (404, False), (408, True), (409, True), (422, False),
     (429, True), (500, True), (502, True), (503, True), (504, True)],
)  # fmt: skip
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient(_status_error(status)) is transient


def test_transient_transport_errors() -> None:
    request = httpx.Request("POST", "http://x/v1/chat/completions")
    assert is_transient(openai.APITimeoutError(request))
    assert is_transient(openai.APIConnectionError(request=request))
    refused = openai.APIConnectionError(request=request)
    refused.__cause__ = httpx.ConnectError("connection refused")
    assert is_transient(refused)
    harness = openai.APIConnectionError(request=request)
    harness.__cause__ = RuntimeError("cassette has no matching request")
    assert not is_transient(harness)
    assert is_transient(MalformedBodyError("not json"))
    assert not is_transient(ValueError("a bug"))


# -- usage ------------------------------------------------------------------------------
def test_call_usage_sums() -> None:
    total = CallUsage()
    total.add(CallUsage(100, 10, 1, 0.5)).add(CallUsage(50, 5, 2, 0.25))
    assert total == CallUsage(150, 15, 3, 0.75)
    assert total.total_tokens == 165
    both = CallUsage(1, 2, 3, 4.0) + CallUsage(1, 1, 1, 1.0)
    assert both == CallUsage(2, 3, 4, 5.0)


# -- the returned object ------------------------------------------------------------------
class Visit(BaseModel):
    when: date | None
    reasons: list[str]
    count: int = Field(ge=0)


def test_returns_a_plain_picklable_instance() -> None:
    with FakeOpenAI(
        [Reply.json({"when": "2016-10-18", "reasons": ["pain"], "count": "2"})]
    ) as fake:
        client = LLMClient(load_config(env={}, base_url=fake.base_url, model="m"))
        visit, usage = client.complete(Visit, [{"role": "user", "content": "x"}])
        client.close()
    assert type(visit) is Visit  # not instructor's dynamic subclass
    assert visit == Visit(when=date(2016, 10, 18), reasons=["pain"], count=2)  # lax: "2" -> 2
    assert pickle.loads(pickle.dumps(visit)) == visit
    assert usage.attempts == 1 and usage.seconds > 0


# -- the fake server's schema answers ------------------------------------------------------------
@pytest.mark.parametrize("model", [Visit, Record])
def test_minimal_instance_validates(model: type[BaseModel]) -> None:
    instance = minimal_instance(model.model_json_schema())
    try:
        model.model_validate(instance)
    except ValidationError as exc:  # pragma: no cover - the message is the diagnosis
        pytest.fail(f"minimal instance of {model.__name__} does not validate: {exc}")


def test_schema_mode_answers_tools_and_json_requests() -> None:
    with FakeOpenAI() as fake:
        for mode in ("tools", "json", "json_schema", "md_json"):
            client = LLMClient(
                load_config(env={}, base_url=fake.base_url, model="m", instructor_mode=mode)
            )
            visit, usage = client.complete(Visit, [{"role": "user", "content": "x"}])
            client.close()
            assert isinstance(visit, Visit)
            assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_fake_records_and_serves_models() -> None:
    with FakeOpenAI() as fake:
        resp = httpx.get(f"{fake.base_url}/models")
        assert resp.json()["data"][0]["id"] == "fake-model"
        assert fake.host == "127.0.0.1" and fake.port > 0
        assert fake.completions == []


def test_errors_carry_no_usage_by_default() -> None:
    from llm_extract.errors import LLMError

    assert LLMError("x").usage is None
