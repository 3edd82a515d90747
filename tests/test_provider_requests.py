"""What LLMClient sends per mode, and that it builds nothing new per call."""

from __future__ import annotations

import gc
import json

import pytest
from pydantic import BaseModel

from llm_extract.config import load_config
from llm_extract.devtools.fake_openai import FakeOpenAI, Reply
from llm_extract.errors import ConfigError
from llm_extract.llm.client import LLMClient
from llm_extract.llm.endpoint import resolve_schema_in_prompt


class Drug(BaseModel):
    name: str
    dose_mg: float | None


SYSTEM_FIRST = [
    {"role": "system", "content": "You extract drugs."},
    {"role": "user", "content": "Tramadol 50 mg."},
]


def _client(fake: FakeOpenAI, mode: str) -> LLMClient:
    return LLMClient(load_config(env={}, base_url=fake.base_url, model="m", instructor_mode=mode))


def _json_client_without_schema_text(fake: FakeOpenAI) -> LLMClient:
    """JSON mode with the schema only in response_format (the embedded server's way)."""
    return LLMClient(
        load_config(
            env={},
            base_url=fake.base_url,
            model="m",
            instructor_mode="json",
            schema_in_prompt="no",
        )
    )


def test_json_mode_appends_the_schema_to_our_system_message() -> None:
    with FakeOpenAI() as fake:
        client = _client(fake, "json")
        client.complete(Drug, SYSTEM_FIRST)
        client.close()
        (sent,) = fake.completions
    messages = sent.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You extract drugs.\n\n")
    assert '"dose_mg"' in messages[0]["content"]  # the schema, as instructor words it
    assert messages[1] == SYSTEM_FIRST[1]
    assert SYSTEM_FIRST[0]["content"] == "You extract drugs."  # the caller's list untouched


def test_json_mode_without_the_schema_text_keeps_it_in_response_format() -> None:
    # What the embedded llama.cpp server gets: the grammar carries the schema.
    with FakeOpenAI([Reply.text('{"name": "Tramadol", "dose_mg": 50}')]) as fake:
        client = _json_client_without_schema_text(fake)
        drug, _ = client.complete(Drug, SYSTEM_FIRST)
        client.close()
        (sent,) = fake.completions
    assert drug == Drug(name="Tramadol", dose_mg=50)
    assert sent.body["messages"] == SYSTEM_FIRST
    schema = sent.body["response_format"]["schema"]
    assert set(schema["properties"]) == {"name", "dose_mg"}


def test_schema_in_prompt_auto_is_off_only_for_the_embedded_server_in_json_mode() -> None:
    embedded = load_config(env={})
    remote = load_config(env={}, base_url="http://127.0.0.1:9/v1", model="m")
    assert resolve_schema_in_prompt(embedded, "json") is False
    assert resolve_schema_in_prompt(remote, "json") is True
    assert resolve_schema_in_prompt(remote, "md_json") is True
    assert resolve_schema_in_prompt(remote, "tools") is False  # the tool carries it
    forced = load_config(env={"LLM_EXTRACT_SCHEMA_IN_PROMPT": "yes"})
    assert resolve_schema_in_prompt(forced, "json") is True


def test_unknown_schema_in_prompt_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="schema_in_prompt"):
        load_config(env={"LLM_EXTRACT_SCHEMA_IN_PROMPT": "sometimes"})


def test_md_json_mode_asks_for_a_fenced_block_in_the_last_user_message() -> None:
    with FakeOpenAI([Reply.text('```json\n{"name": "Tramadol", "dose_mg": 50}\n```')]) as fake:
        client = _client(fake, "md_json")
        drug, _ = client.complete(Drug, SYSTEM_FIRST)
        client.close()
        (sent,) = fake.completions
    assert drug == Drug(name="Tramadol", dose_mg=50)
    last = sent.body["messages"][-1]
    assert last["role"] == "user" and "```json" in last["content"]
    assert "Tramadol 50 mg." in last["content"]  # merged with ours, not a second user turn


def test_tools_reask_answers_the_tool_call() -> None:
    with FakeOpenAI(
        [Reply.json({"name": "Tramadol"}), Reply.json({"name": "T", "dose_mg": 5})]
    ) as fake:
        client = _client(fake, "tools")
        drug, usage = client.complete(Drug, SYSTEM_FIRST)
        client.close()
        first, second = fake.completions
    assert usage.attempts == 2 and drug.dose_mg == 5
    reask = second.body["messages"][len(first.body["messages"]) :]
    assert [m["role"] for m in reask] == ["assistant", "tool"]
    assert reask[1]["tool_call_id"] == reask[0]["tool_calls"][0]["id"]
    assert "dose_mg" in json.dumps(reask[1])
    assert first.body["tools"] == second.body["tools"]


def test_no_new_pydantic_class_per_call() -> None:
    """instructor.patch made a wrapper class per call (and its schema cache kept
    them): memory grew with every letter.  The wrapper is now made once per model."""
    with FakeOpenAI() as fake:
        client = _client(fake, "tools")
        client.complete(Drug, SYSTEM_FIRST)
        gc.collect()
        before = len(Drug.__subclasses__())
        for _ in range(30):
            client.complete(Drug, SYSTEM_FIRST)
        client.close()
    gc.collect()
    assert len(Drug.__subclasses__()) == before  # one wrapper per mode used, made once


# -- what llm.structured relies on in instructor (fails loudly on an upgrade that changes it)
def test_json_mode_without_the_schema_text_reasks_by_appending_only() -> None:
    """For the embedded server llm.structured runs instructor's JSON_SCHEMA mode (which
    leaves the messages alone) and rewrites its response_format to llama.cpp's
    json_object + schema; the re-ask must still be JSON mode's: answer + correction
    appended to our messages, the schema still in response_format."""
    with FakeOpenAI(
        [Reply.text('{"name": "Tramadol", "dose_mg": '), Reply.text('{"name": "T", "dose_mg": 5}')]
    ) as fake:
        client = _json_client_without_schema_text(fake)
        drug, usage = client.complete(Drug, SYSTEM_FIRST)
        client.close()
        first, second = fake.completions
    assert drug == Drug(name="T", dose_mg=5) and usage.attempts == 2
    assert first.body["messages"] == SYSTEM_FIRST
    assert second.body["messages"][:2] == SYSTEM_FIRST
    reask = second.body["messages"][2:]
    assert [m["role"] for m in reask] == ["assistant", "user"]
    assert reask[0]["content"] == '{"name": "Tramadol", "dose_mg": '
    assert "json" in reask[1]["content"].lower()
    for sent in (first, second):
        assert sent.body["response_format"] == {
            "type": "json_object",
            "schema": Drug.model_json_schema(),
        }


def test_no_new_pydantic_class_per_call_in_json_mode() -> None:
    with FakeOpenAI() as fake:
        client = _json_client_without_schema_text(fake)
        client.complete(Drug, SYSTEM_FIRST)
        gc.collect()
        before = len(Drug.__subclasses__())
        for _ in range(10):
            client.complete(Drug, SYSTEM_FIRST)
        client.close()
    gc.collect()
    assert len(Drug.__subclasses__()) == before


def test_instructor_public_names_used_by_llm_structured() -> None:
    import instructor
    from instructor.core import IncompleteOutputException, InstructorRetryException

    assert issubclass(IncompleteOutputException, Exception)
    assert issubclass(InstructorRetryException, Exception)
    for mode in ("TOOLS", "JSON", "JSON_SCHEMA", "MD_JSON"):
        assert hasattr(instructor.Mode, mode)
    wrapped = instructor.openai_schema(Drug)
    assert issubclass(wrapped, Drug)
    assert instructor.openai_schema(wrapped) is not None
    client = instructor.Instructor(
        client=None, create=instructor.patch(create=lambda **kw: None, mode=instructor.Mode.JSON)
    )
    for hook in ("completion:kwargs", "parse:error"):
        client.on(hook, lambda *a, **k: None)  # raises ValueError for an unknown hook name


def test_a_failure_in_send_comes_out_as_itself() -> None:
    """instructor wraps whatever the create function raises in its retry exception;
    llm.structured gives back the original (our typed transport error, or a bug)."""
    from llm_extract.llm import structured

    class Boom(Exception):
        pass

    def send(body: dict[str, object]) -> object:
        raise Boom("from send")

    with pytest.raises(Boom, match="from send"):
        structured.complete(
            send,
            Drug,
            SYSTEM_FIRST,
            mode="tools",
            schema_in_prompt=False,
            max_reasks=2,
            about="t",
            model_name="m",
            model="m",
        )


def test_one_mode_does_not_leak_into_another() -> None:
    # The same model through TOOLS then JSON mode in one process: the JSON prompt's
    # schema is the model's own (instructor edits the schema dicts it builds).
    with FakeOpenAI() as fake:
        for mode in ("tools", "json"):
            client = _client(fake, mode)
            client.complete(Drug, SYSTEM_FIRST)
            client.close()
        json_body = fake.completions[1].body
    assert "Correctly extracted" not in json_body["messages"][0]["content"]
    assert json_body["response_format"]["schema"] == Drug.model_json_schema()
