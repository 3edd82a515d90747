"""The endpoint: which server, which structured-output mode, and the HTTP client's life.

:class:`Endpoint` owns the ``openai`` client for one configured endpoint (any
OpenAI-compatible ``base_url``, or the embedded llama.cpp server, started on
first use by :mod:`.local_server`), rebuilds it when the embedded server has
died, drops it in a forked child, and closes it.  :func:`resolve_mode` and
:func:`resolve_schema_in_prompt` decide how :mod:`.structured` talks to it.
:meth:`Endpoint.check` is the cheap "can this endpoint be used at all?" probe
run before the first letter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import ssl
import threading
import time
import weakref
from typing import Any

import httpx
import openai

from ..config import Config
from ..errors import BackendUnavailableError
from .local_server import LocalServer, acquire_server
from .model_files import local_model_name
from .transport import describe, is_transient, key_rejected

log = logging.getLogger(__name__)

# The openai client refuses to start without a key; local servers ignore it.
NO_KEY = "sk-no-key"

# check(): a reachable endpoint answers GET /models in milliseconds.
CHECK_TIMEOUT_S = 10.0
CHECK_RETRY_WAIT_S = 0.5


def resolve_mode(config: Config) -> str:
    """The instructor mode for this endpoint.

    ``auto``: JSON mode (schema in ``response_format``, grammar-constrained) for
    the embedded llama.cpp server, which rejects JSON_SCHEMA mode; TOOLS for any
    other endpoint (OpenAI, vLLM, Ollama all support forced tool calls).
    """
    if config.instructor_mode != "auto":
        return config.instructor_mode
    return "json" if config.base_url is None else "tools"


def resolve_schema_in_prompt(config: Config, mode: str) -> bool:
    """Whether the schema is also pasted into the system message (JSON/MD_JSON modes).

    ``auto``: not for the embedded llama.cpp server in JSON mode. It turns the
    schema in ``response_format`` into a grammar, so the answer has the schema's
    shape whatever the prompt says, and instructor's indented copy of the
    schema cost ~520 of the ~1,100 prompt tokens of a hybrid call (more than a
    short letter's own length).  Any other endpoint may only honour
    ``json_object``, so it gets instructor's text.  MD_JSON always keeps it:
    the prompt is the only place that mode carries the schema.
    """
    if mode == "md_json":
        return True
    if mode != "json":
        return False  # TOOLS / JSON_SCHEMA carry the schema in the request itself
    if config.schema_in_prompt != "auto":
        return config.schema_in_prompt == "yes"
    return config.base_url is not None


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once.

    Each new httpx client would otherwise load the CA bundle again: ~30-60 ms,
    paid by every batch worker process for its first request (forked workers
    inherit this context already built).
    """
    return httpx.create_ssl_context()


# Every live endpoint, so that a forked child can drop what it copied (see below).
_ENDPOINTS: weakref.WeakSet[Endpoint] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A forked child (the batch's worker processes) must not use its parent's HTTP
    connections (two processes writing one socket), nor stop its parent's embedded
    server: it drops the copied client, to build its own on first use, and keeps
    only a borrowed reference to the server."""
    for endpoint in list(_ENDPOINTS):
        endpoint._lock = threading.Lock()
        endpoint._client = None
        if endpoint._server is not None and endpoint._server.owned:
            endpoint._server = dataclasses.replace(endpoint._server, process=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Endpoint:
    """One OpenAI-compatible endpoint and its HTTP client.  Thread-safe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._client: openai.OpenAI | None = None
        self._server: LocalServer | None = None
        self._base_url: str | None = config.base_url
        _ENDPOINTS.add(self)
        if config.base_url is None:
            # The embedded server serves one model whatever a request names, so
            # the record names the model actually used, not a stray --model.
            self.model: str = local_model_name(config)
            if config.model and config.model != self.model:
                log.warning(
                    "--model %s ignored: without --base-url the embedded model %s is used",
                    config.model,
                    self.model,
                )
        else:
            if not config.model:
                raise BackendUnavailableError(
                    f"--base-url {config.base_url} needs a model name: pass --model "
                    "(or set LLM_EXTRACT_MODEL), e.g. gpt-4o-mini, qwen2.5:1.5b",
                    field="model",
                )
            self.model = config.model

    @property
    def base_url(self) -> str | None:
        """The endpoint in use; ``None`` until the embedded server has started."""
        return self._base_url

    @property
    def url(self) -> str:
        """The endpoint for messages: its base URL, or what it will be."""
        return self._base_url or "the local server"

    def client(self) -> openai.OpenAI:
        """The HTTP client, starting the embedded server on first use."""
        with self._lock:
            if self._client is not None:
                if self._server is None or not self._server.owned or self._server.alive():
                    return self._client
                # The embedded server we started has died (killed, out of memory):
                # start a fresh one rather than fail every remaining letter.
                log.warning("the local LLM server stopped unexpectedly; starting it again")
                self._client.close()
                self._client = None
                self._server.release()
                self._server = None
                self._base_url = None
            if self._base_url is None:
                self._server = acquire_server(self.config)
                self._base_url = self._server.base_url
                # A server found on LLM_EXTRACT_LOCAL_PORT may serve another model.
                self.model = self._server.model
                api_key = NO_KEY
            else:
                api_key = self.config.api_key or NO_KEY
            self._client = openai.OpenAI(
                base_url=self._base_url,
                api_key=api_key,
                timeout=self.config.timeout_s,
                max_retries=0,  # llm.transport is the one retry policy
                http_client=openai.DefaultHttpxClient(verify=_ssl_context()),
            )
            return self._client

    def turn(self) -> contextlib.AbstractContextManager[Any]:
        """Held around each request: the embedded server answers one at a time, so
        a process's concurrent calls take turns before they send (the timeout then
        counts only the server's work, not the queue)."""
        server = self._server
        return server.request_lock if server is not None else contextlib.nullcontext()

    def check(self) -> None:
        """Raise :class:`BackendUnavailableError` if this endpoint cannot be used.

        Cheap: one ``GET /models`` with a short timeout, one quick retry if the
        connection fails (a server just starting).  Refused connections, DNS
        failures and a rejected key (401/403) raise, with what to fix; anything
        else (a slow answer, 404 from a server without ``/models``, 5xx) is
        logged and left to the calls' own retries.  The embedded server is
        started here (its start already waits for ``/models``), so its failures
        surface before the first letter too.
        """
        client = self.client()
        if self._server is not None:
            return  # acquire_server has just seen /models answer
        quick = client.with_options(timeout=min(CHECK_TIMEOUT_S, self.config.timeout_s))
        for attempt in (1, 2):
            try:
                quick.models.list()
                return
            except openai.APITimeoutError as exc:
                log.warning("%s/models: %s; going on", self.url, describe(exc))
                return
            except openai.APIConnectionError as exc:
                if not is_transient(exc):  # not the network (e.g. a test harness refusing)
                    log.warning("%s/models: %s; going on", self.url, describe(exc))
                    return
                if attempt == 1:
                    time.sleep(CHECK_RETRY_WAIT_S)
                    continue
                raise BackendUnavailableError(
                    f"cannot reach {self.url}: {describe(exc)}: check --base-url "
                    "(or LLM_EXTRACT_BASE_URL) and that the server is running",
                    field="base_url",
                    cause=exc,
                ) from exc
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise key_rejected(self.url, exc, self.config.api_key_env) from exc
            except openai.APIStatusError as exc:
                log.warning("%s/models answered HTTP %d; going on", self.url, exc.status_code)
                return

    def close(self) -> None:
        """Release the HTTP client; stop the embedded server if this process started it."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._server is not None:
                self._server.release()
                self._server = None
                self._base_url = None
