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
from llm_extract.llm.client import LLMClient
from llm_extract.llm.endpoint import resolve_mode
from llm_extract.llm.transport import MalformedBodyError, is_transient, retry_after_seconds
from llm_extract.models import Record, Usage


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
def test_usage_sums() -> None:
    def u(p: int, c: int, a: int, s: float) -> Usage:
        return Usage(prompt_tokens=p, completion_tokens=c, attempts=a, seconds=s)

    total = Usage()
    total.add(u(100, 10, 1, 0.5)).add(u(50, 5, 2, 0.25))
    assert total == u(150, 15, 3, 0.75)
    assert total.total_tokens == 165
    both = u(1, 2, 3, 4.0) + u(1, 1, 1, 1.0)
    assert both == u(2, 3, 4, 5.0)


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


# -- check(): can the endpoint be used at all? ------------------------------------------
def test_check_passes_on_a_live_endpoint() -> None:
    with FakeOpenAI() as fake:
        client = LLMClient(load_config(env={}, base_url=fake.base_url, model="m"))
        client.check()
        client.close()
        gets = [r for r in fake.requests if r.method == "GET"]
    assert [r.path for r in gets] == ["/v1/models"]
    assert fake.completions == []  # no tokens spent


@pytest.mark.parametrize("status", [401, 403])
def test_check_rejected_key_says_which_variable(
    status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-wrong")
    with FakeOpenAI() as fake:
        fake.models_reply = Reply.error(status)
        config = load_config(env={}, base_url=fake.base_url, model="m", api_key_env="FAKE_LLM_KEY")
        client = LLMClient(config)
        with pytest.raises(BackendUnavailableError) as info:
            client.check()
        client.close()
        gets = [r for r in fake.requests if r.method == "GET"]
    assert info.value.exit_code == 3
    assert "rejected the API key" in info.value.message and "$FAKE_LLM_KEY" in info.value.message
    assert "\n" not in str(info.value)
    assert len(gets) == 1  # a rejected key is not retried


def test_check_refused_connection_names_the_url_and_the_fix() -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url  # a port that was just free, now closed again
    client = LLMClient(load_config(env={}, base_url=url, model="m"))
    with pytest.raises(BackendUnavailableError) as info:
        client.check()
    message = info.value.message
    assert info.value.exit_code == 3
    assert f"cannot reach {url}" in message and "--base-url" in message
    assert "\n" not in str(info.value)


def test_check_dns_failure_is_unavailable() -> None:
    client = LLMClient(
        load_config(env={}, base_url="http://llm-extract-check.invalid/v1", model="m")
    )
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        client.check()


@pytest.mark.parametrize("status", [404, 500])
def test_check_leaves_other_answers_to_the_calls(status: int) -> None:
    # A server without /models (404), or one failing right now (5xx): the calls'
    # own retries and errors decide, not the check.
    with FakeOpenAI() as fake:
        fake.models_reply = Reply.error(status)
        client = LLMClient(load_config(env={}, base_url=fake.base_url, model="m"))
        client.check()
        client.close()


def test_backends_expose_check() -> None:
    from llm_extract.llm.backend import LLMBackend
    from llm_extract.llm.hybrid import HybridBackend

    with FakeOpenAI() as gone:
        url = gone.base_url
    for backend_cls in (LLMBackend, HybridBackend):
        backend = backend_cls(load_config(env={}, base_url=url, model="m"))
        with pytest.raises(BackendUnavailableError, match="cannot reach"):
            backend.check()
        backend.close()


# -- the import boundary ---------------------------------------------------------------
def _importers(package: str) -> set[str]:
    """Modules of llm_extract that import ``package`` (at any depth of the file)."""
    import ast
    from pathlib import Path

    import llm_extract

    root = Path(llm_extract.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                # from ..provider import X (in llm_extract/llm/) -> llm_extract.provider
                here = path.relative_to(root.parent).with_suffix("").parts
                base = list(here[: len(here) - node.level]) if node.level else []
                names = [".".join([*base, *([node.module] if node.module else [])])]
            if any(n == package or n.startswith(f"{package}.") for n in names):
                found.add(path.relative_to(root.parent).with_suffix("").as_posix())
    return found


def test_only_the_provider_modules_import_openai_and_instructor() -> None:
    provider = {
        "llm_extract/llm/transport",
        "llm_extract/llm/endpoint",
        "llm_extract/llm/structured",
        "llm_extract/llm/batch_transport",  # the OpenAI Batch API's files and batches
    }
    assert _importers("openai") <= provider
    assert _importers("instructor") == {"llm_extract/llm/structured"}


def test_the_llm_package_does_not_import_back_up_lazily() -> None:
    # provider.py and llm/ imported each other inside functions; now the
    # provider modules live in llm/ and every import is at the top.
    import llm_extract.llm.client as client_module

    assert client_module.LLMClient.__module__ == "llm_extract.llm.client"
    assert _importers("llm_extract.provider") == set()
