"""Fault tests: the provider against a real HTTP fake of an OpenAI-compatible server.

Each test scripts the fake (429 with Retry-After, 5xx, hangs, broken bodies,
invalid JSON, schema violations, then a valid answer) and asserts what the
client did about it: how many requests, how long it waited, what it re-asked,
what usage it summed, and which typed error it raised in the end.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from llm_extract.config import Config, load_config
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.errors import BackendUnavailableError, LLMError, LLMResponseError
from llm_extract.llm.client import LLMClient
from llm_extract.llm.endpoint import NO_KEY
from llm_extract.llm.transport import Backoff
from llm_extract.models import Usage

# Fast backoff so that retries without Retry-After take milliseconds.
FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.01, max_retry_after=5.0)
MESSAGES = [{"role": "user", "content": "Paris is the capital of France (2.1 million people)."}]


class City(BaseModel):
    name: str
    country: str
    population_millions: float | None


VALID = {"name": "Paris", "country": "France", "population_millions": 2.1}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def make_client(fake: FakeOpenAI, mode: str = "tools", **overrides: object) -> LLMClient:
    settings: dict[str, object] = {
        "base_url": fake.base_url,
        "model": "fake-model",
        "instructor_mode": mode,
        "timeout_s": 5.0,
        "max_retries": 3,
        "max_reasks": 2,
        **overrides,
    }
    return LLMClient(load_config(env={}, **settings), backoff=FAST)


def complete(client: LLMClient) -> tuple[City, Usage]:
    try:
        return client.complete(City, MESSAGES, letter_id="CM-TEST-1", field="city")
    finally:
        client.close()


# -- transport retries -----------------------------------------------------------
def test_429_waits_for_retry_after_then_succeeds(fake: FakeOpenAI) -> None:
    fake.push(Reply.rate_limited(retry_after=1), Reply.json(VALID))
    started = time.monotonic()
    city, usage = complete(make_client(fake))
    elapsed = time.monotonic() - started
    assert city == City.model_validate(VALID)
    assert len(fake.completions) == 2
    gap = fake.completions[1].received_at - fake.completions[0].received_at
    # The backoff alone would wait ~0.02 s: the wait is the server's 1 s.
    assert 0.95 <= gap < 2.0
    assert elapsed >= 0.95
    assert usage.attempts == 2


def test_429_retry_after_as_http_date(fake: FakeOpenAI) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    fake.push(Reply.rate_limited(retry_after=when), Reply.json(VALID))
    city, _ = complete(make_client(fake))
    assert city.name == "Paris"
    gap = fake.completions[1].received_at - fake.completions[0].received_at
    # An HTTP date has one-second resolution: between 1 and 2 s from now.
    assert 0.9 <= gap < 2.5


def test_retry_after_is_capped(fake: FakeOpenAI) -> None:
    fake.push(Reply.rate_limited(retry_after=3600), Reply.json(VALID))
    client = LLMClient(
        load_config(env={}, base_url=fake.base_url, model="m", instructor_mode="tools"),
        backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0, max_retry_after=0.2),
    )
    started = time.monotonic()
    complete(client)
    assert time.monotonic() - started < 2.0


def test_5xx_retried_then_succeeds(fake: FakeOpenAI) -> None:
    fake.push(Reply.error(500), Reply.error(503), Reply.json(VALID, usage=(40, 9)))
    city, usage = complete(make_client(fake))
    assert city.country == "France"
    assert len(fake.completions) == 3
    assert usage.attempts == 3
    # Failed HTTP attempts report no tokens; the successful one does.
    assert (usage.prompt_tokens, usage.completion_tokens) == (40, 9)
    # A transport retry resends the same request: no re-ask message was added.
    assert fake.completions[2].messages == fake.completions[0].messages


def test_exhausted_retries_raise_llm_error_with_context(fake: FakeOpenAI) -> None:
    fake.default = Reply.error(500)
    with pytest.raises(LLMError) as info:
        complete(make_client(fake, max_retries=2))
    err = info.value
    assert not isinstance(err, LLMResponseError)
    assert err.letter == "CM-TEST-1"
    assert err.field == "city"
    assert isinstance(err.cause, openai.InternalServerError)
    assert "HTTP 500" in err.message and "3 attempt(s)" in err.message
    assert str(err).startswith("CM-TEST-1: field city: ")
    assert err.exit_code == 4
    assert len(fake.completions) == 3  # 1 + max_retries, not the openai client's own retries
    assert isinstance(err.usage, Usage) and err.usage.attempts == 3


def test_default_backoff_can_be_shrunk_for_other_tests(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_extract.llm import transport

    monkeypatch.setattr(transport, "DEFAULT_BACKOFF", FAST)
    fake.push(Reply.error(500), Reply.error(500), Reply.json(VALID))
    client = LLMClient(load_config(env={}, base_url=fake.base_url, model="m"))
    started = time.monotonic()
    complete(client)
    assert time.monotonic() - started < 1.0  # the default would wait 1 s + 2 s


def test_openai_client_retries_are_off(fake: FakeOpenAI) -> None:
    fake.default = Reply.error(502)
    with pytest.raises(LLMError):
        complete(make_client(fake, max_retries=0))
    assert len(fake.completions) == 1


def test_timeout_is_retried(fake: FakeOpenAI) -> None:
    fake.push(Reply.hang(3.0), Reply.json(VALID))
    started = time.monotonic()
    city, usage = complete(make_client(fake, timeout_s=0.5))
    assert city.name == "Paris"
    assert usage.attempts == 2
    assert time.monotonic() - started < 2.5  # gave up on the hang after 0.5 s


def test_timeouts_exhausted_raise_llm_error(fake: FakeOpenAI) -> None:
    fake.default = Reply.hang(3.0)
    with pytest.raises(LLMError) as info:
        complete(make_client(fake, timeout_s=0.3, max_retries=1))
    assert isinstance(info.value.cause, openai.APITimeoutError)
    assert "did not answer within 0.3s" in info.value.message
    assert info.value.letter == "CM-TEST-1"
    assert len(fake.completions) == 2


def test_malformed_body_is_retried_not_reasked(fake: FakeOpenAI) -> None:
    fake.push(Reply.malformed_body(), Reply.json(VALID))
    city, usage = complete(make_client(fake))
    assert city.name == "Paris"
    assert usage.attempts == 2
    assert fake.completions[1].messages == fake.completions[0].messages


def test_malformed_bodies_exhausted_raise_llm_error(fake: FakeOpenAI) -> None:
    empty = '{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}'
    fake.push(Reply.malformed_body())
    fake.default = Reply("raw", content=empty)
    with pytest.raises(LLMError) as info:
        complete(make_client(fake, max_retries=2))
    assert not isinstance(info.value, LLMResponseError)
    assert "malformed responses: the response has no choices (3 attempt(s))" in info.value.message
    assert len(fake.completions) == 3


def test_connection_refused_raises_llm_error() -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url  # a port that was just free, now closed again
    client = LLMClient(load_config(env={}, base_url=url, model="m", max_retries=1), backoff=FAST)
    with pytest.raises(LLMError) as info:
        complete(client)
    assert isinstance(info.value.cause, openai.APIConnectionError)
    assert "cannot reach" in info.value.message


def test_bad_request_is_not_retried(fake: FakeOpenAI) -> None:
    fake.default = Reply.error(400)
    with pytest.raises(LLMError) as info:
        complete(make_client(fake))
    assert len(fake.completions) == 1
    assert "HTTP 400" in info.value.message and "--instructor-mode" in info.value.message


def test_rejected_key_is_a_configuration_error(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-wrong")
    fake.default = Reply.error(401)
    with pytest.raises(BackendUnavailableError) as info:
        complete(make_client(fake, api_key_env="FAKE_LLM_KEY"))
    assert "$FAKE_LLM_KEY" in info.value.message
    assert len(fake.completions) == 1


# -- re-asks -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["tools", "json", "md_json"])
def test_malformed_json_content_is_reasked(fake: FakeOpenAI, mode: str) -> None:
    fake.push(
        Reply.text('{"name": "Paris", "country": ', usage=(100, 7)),
        Reply.json(VALID, usage=(130, 12)),
    )
    city, usage = complete(make_client(fake, mode))
    assert city == City.model_validate(VALID)
    assert len(fake.completions) == 2
    # The re-ask carries the error back to the model.
    reask = fake.completions[1].messages
    assert len(reask) > len(fake.completions[0].messages)
    assert "json" in json.dumps(reask[-1]).lower()
    # Usage is the sum of both attempts, the failed one included.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.attempts) == (230, 19, 2)


@pytest.mark.parametrize("mode", ["tools", "json"])
def test_schema_violation_is_reasked(fake: FakeOpenAI, mode: str) -> None:
    fake.push(
        Reply.json({"name": "Paris", "population_millions": "lots"}, usage=(100, 9)),
        Reply.json(VALID, usage=(150, 12)),
    )
    city, usage = complete(make_client(fake, mode))
    assert city.name == "Paris"
    last = json.dumps(fake.completions[1].messages[-1])
    assert "country" in last  # the missing field is named in the re-ask
    assert (usage.prompt_tokens, usage.completion_tokens, usage.attempts) == (250, 21, 2)


def test_reasks_are_logged_with_letter_and_field(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake.push(Reply.json({"name": "Paris"}), Reply.json(VALID))
    with caplog.at_level(logging.INFO, logger="llm_extract.llm.structured"):
        complete(make_client(fake))
    lines = [r.getMessage() for r in caplog.records if r.name == "llm_extract.llm.structured"]
    assert any(
        m.startswith("CM-TEST-1 field city: answer 1 of 3 invalid") and m.endswith("re-asking")
        for m in lines
    ), lines


def test_never_valid_raises_llm_response_error_with_all_usage(fake: FakeOpenAI) -> None:
    fake.default = Reply.json({"name": "Paris"}, usage=(50, 5))
    with pytest.raises(LLMResponseError) as info:
        complete(make_client(fake, max_reasks=2))
    err = info.value
    assert len(fake.completions) == 3  # first try + 2 re-asks
    assert err.letter == "CM-TEST-1" and err.field == "city"
    assert "3 attempt(s)" in err.message and "City" in err.message
    assert isinstance(err.usage, Usage)
    assert (err.usage.prompt_tokens, err.usage.completion_tokens) == (150, 15)
    assert err.cause is not None


def test_truncated_answer_is_a_response_error(fake: FakeOpenAI) -> None:
    fake.push(Reply.truncated())
    with pytest.raises(LLMResponseError, match="max_tokens=1024") as info:
        complete(make_client(fake))
    assert info.value.letter == "CM-TEST-1"
    assert len(fake.completions) == 1  # the same budget would cut it off again


def test_transport_retry_inside_a_reask_keeps_counting(fake: FakeOpenAI) -> None:
    fake.push(
        Reply.json({"name": "Paris"}, usage=(10, 1)),
        Reply.error(503),
        Reply.json(VALID, usage=(20, 2)),
    )
    _, usage = complete(make_client(fake))
    assert (usage.prompt_tokens, usage.completion_tokens, usage.attempts) == (30, 3, 3)


# -- what is sent ------------------------------------------------------------------------
def test_api_key_is_sent_as_bearer(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-123")
    complete(make_client(fake, api_key_env="FAKE_LLM_KEY"))
    assert fake.completions[0].headers["Authorization"] == "Bearer sk-test-123"


def test_no_key_sends_a_dummy_key(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKE_LLM_KEY", raising=False)
    complete(make_client(fake, api_key_env="FAKE_LLM_KEY"))
    assert fake.completions[0].headers["Authorization"] == f"Bearer {NO_KEY}"


def test_json_mode_puts_the_schema_in_response_format(fake: FakeOpenAI) -> None:
    complete(make_client(fake, "json"))
    body = fake.completions[0].body
    assert body["response_format"]["type"] == "json_object"
    assert body["response_format"]["schema"] == City.model_json_schema()
    assert "tools" not in body
    assert body["model"] == "fake-model" and body["temperature"] == 0.0


def test_tools_mode_forces_the_tool(fake: FakeOpenAI) -> None:
    complete(make_client(fake, "tools", max_tokens=321))
    body = fake.completions[0].body
    assert body["tools"][0]["function"]["name"] == "City"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "City"}}
    assert body["max_tokens"] == 321
    assert "response_format" not in body


def test_max_tokens_per_call(fake: FakeOpenAI) -> None:
    client = make_client(fake)
    client.complete(City, MESSAGES, max_tokens=77)
    client.close()
    assert fake.completions[0].body["max_tokens"] == 77


# -- concurrency ----------------------------------------------------------------------------
def test_concurrent_calls_overlap_and_count_their_own_usage(fake: FakeOpenAI) -> None:
    fake.default = Reply.schema(latency=0.3, usage=(11, 3))
    client = make_client(fake)
    results: list[Usage] = []
    lock = threading.Lock()

    def one() -> None:
        _, usage = client.complete(City, MESSAGES)
        with lock:
            results.append(usage)

    threads = [threading.Thread(target=one) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    elapsed = time.monotonic() - started
    client.close()
    assert len(results) == 8
    assert all((u.prompt_tokens, u.completion_tokens, u.attempts) == (11, 3, 1) for u in results)
    assert elapsed < 8 * 0.3 / 2  # overlapped, not serialised


def test_config_error_without_model(fake: FakeOpenAI) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        LLMClient(Config(base_url=fake.base_url))
    assert "--model" in info.value.message
