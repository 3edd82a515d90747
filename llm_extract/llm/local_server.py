"""The embedded LLM: llama-cpp-python's OpenAI-compatible server as a child process.

:func:`acquire_server` gives an :class:`LocalServer` for a :class:`Config`:

1. ``Config.local_port`` set and something answers ``/v1/models`` there: use it.
2. A live server started by ``llm-extract serve`` (state file in the cache dir,
   checked by pid *and* HTTP) serving the same model: use it.
3. Otherwise start one: ``python -m llama_cpp.server`` (same interpreter, via a
   thin wrapper that exits with its parent) on loopback and a free port, wait
   until ``/v1/models`` answers, and stop it on :meth:`LocalServer.release`
   or at exit.  Servers this process did not start are never stopped.

Within one process the server is shared (reference counted) by every client
with the same settings, so the ``llm`` and ``hybrid`` backends load the model once.

Finding, starting, waiting for, sharing and stopping the server are one
lifecycle over one state (the state file, the child's pid, its port); the
child-side wrapper (``_child_main``) lives here too because the parent starts
it as ``python -m`` of this very module.  The port, URL and pid checks are
:mod:`.server_probe`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import BackendUnavailableError
from .model_files import ensure_model_file, exclusive, local_model_name
from .server_probe import (
    base_url_for,
    free_port,
    host_of,
    pid_alive,
    port_is_free,
    port_open,
    served_models,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
# Environment variables llama_cpp.server reads that could override our flags
# (HOST=0.0.0.0 in the environment must never expose the server).
_SCRUBBED_ENV = ("HOST", "PORT", "CONFIG_FILE", "MODEL", "API_KEY")


@dataclass(frozen=True)
class ServerSettings:
    """Everything that decides which server a config needs."""

    model_name: str
    host: str
    port: int | None
    ctx: int
    threads: int
    cache_dir: Path
    local_model_path: Path | None = None

    @classmethod
    def from_config(cls, config: Config) -> ServerSettings:
        return cls(
            model_name=local_model_name(config),
            host="127.0.0.1" if config.local_host == "localhost" else config.local_host,
            port=config.local_port,
            ctx=config.local_ctx,
            threads=config.local_threads or os.cpu_count() or 1,
            cache_dir=Path(config.cache_dir).expanduser(),
            local_model_path=config.local_model_path,
        )

    def model_file(self) -> Path:
        """The GGUF, assembled and verified on first use.  Only starting a server
        needs it: reusing a running one works without the model wheels."""
        return ensure_model_file(
            Config(cache_dir=self.cache_dir, local_model_path=self.local_model_path)
        )


def server_command(settings: ServerSettings, port: int) -> list[str]:
    """The child's command line (the wrapper below runs ``llama_cpp.server``)."""
    return [
        sys.executable,
        "-m",
        "llm_extract.llm.local_server",
        "--parent-pid",
        str(os.getpid()),
        "--",
        "--model",
        str(settings.model_file()),
        "--model_alias",
        settings.model_name,
        "--host",
        settings.host,
        "--port",
        str(port),
        "--n_ctx",
        str(settings.ctx),
        "--n_threads",
        str(settings.threads),
        "--n_threads_batch",
        str(settings.threads),
        # Chat format: none given, so llama-cpp-python uses the GGUF's own
        # Qwen2.5 chat template (ChatML with Qwen's tool-call conventions).
        # logits_all would keep n_ctx x 152k-vocab floats (2.5 GB) for nothing.
        "--logits_all",
        "False",
        # mlock of 1.1 GB fails under common ulimits; the page cache does the job.
        "--use_mlock",
        "False",
        # Prompt caching: llama.cpp keeps the KV cache of the previous request
        # and re-evaluates only what follows the common prefix ("prefix-match
        # hit"), and the prompts keep their instructions identical and first.
        # The extra `--cache` (a RAM store of saved states) is off: each entry
        # also copies a 311 MB logits buffer that its size cap does not count
        # (measured +0.6 GB RSS after three calls), for no gain when
        # consecutive requests share the instruction prefix anyway.
        "--cache",
        "False",
        "--verbose",
        "False",
    ]


@dataclass
class LocalServer:
    """A running llama.cpp server: one we started (``process``) or one we found."""

    base_url: str
    model: str
    port: int
    pid: int | None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    state_path: Path | None = None
    _refs: int = field(default=0, repr=False)
    # llama-cpp-python's server answers one non-streaming request at a time and
    # queues the rest; clients take turns here instead, so that their timeout
    # measures the server's work and not the time spent waiting in its queue.
    request_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _key: ServerSettings | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def owned(self) -> bool:
        """True when this process started the server (and so must stop it)."""
        return self.process is not None

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.pid is not None and not pid_alive(self.pid):
            return False
        # Not an HTTP check: llama-cpp-python answers /v1/models only between
        # completions, so a busy server would look dead for minutes.
        return port_open(host_of(self.base_url), self.port)

    def release(self) -> None:
        """Drop one reference; the last one stops a server this process started."""
        with _lock:
            self._refs = max(0, self._refs - 1)
            if self._refs > 0:
                return
            if self._key is not None and _shared.get(self._key) is self:
                del _shared[self._key]
        self.stop()

    def stop(self) -> None:
        """Stop the server if this process started it; never touch anyone else's."""
        proc = self.process
        if proc is None or self._stopped:
            return
        self._stopped = True
        # A server that died by itself keeps its log for diagnosis; a clean stop
        # removes it, so the cache does not fill with logs.
        stopped_by_us = proc.poll() is None
        if stopped_by_us:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if self.state_path is not None:
            with contextlib.suppress(OSError):
                state = json.loads(self.state_path.read_text(encoding="utf-8"))
                if state.get("pid") == proc.pid:
                    self.state_path.unlink()
        if stopped_by_us and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        log.info("stopped the local LLM server on port %d", self.port)

    def stderr_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


# -- process-wide sharing ------------------------------------------------------
_lock = threading.RLock()
_shared: dict[ServerSettings, LocalServer] = {}


def acquire_server(config: Config) -> LocalServer:
    """A running server for ``config`` (found or started), with one more reference."""
    settings = ServerSettings.from_config(config)
    with _lock:
        server = _shared.get(settings)
        if server is not None and not server.alive():
            log.warning("the local LLM server on port %d has gone; starting another", server.port)
            server = None
        if server is None:
            server = find_running(settings, state_path(config)) or start_server(
                settings, log_dir=settings.cache_dir
            )
            server._key = settings
            _shared[settings] = server
        server._refs += 1
        return server


def state_path(config: Config) -> Path:
    return Path(config.cache_dir).expanduser() / "server.json"


def find_running(settings: ServerSettings, state_file: Path) -> LocalServer | None:
    """A server we may use without starting one: the configured port, or ``serve``'s.

    Liveness is a process and TCP check, not an HTTP one: llama-cpp-python
    answers ``/v1/models`` only between completions, so a server busy with
    another client's request would otherwise look absent.
    """
    if settings.port is not None:
        if not port_open(settings.host, settings.port):
            return None
        url = base_url_for(settings.host, settings.port)
        models = served_models(url)  # None when busy: then assume the configured model
        model = models[0] if models else settings.model_name
        log.info("using the LLM server already listening on %s (%s)", url, model)
        return LocalServer(url, model, settings.port, None)
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        pid, port, model = int(state["pid"]), int(state["port"]), str(state["model"])
        host = str(state.get("host", "127.0.0.1"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if model != settings.model_name or int(state.get("ctx", 0)) < settings.ctx:
        return None
    if not pid_alive(pid) or not port_open(host, port):
        return None
    url = base_url_for(host, port)
    log.info("using the LLM server started by `llm-extract serve` at %s (pid %d)", url, pid)
    return LocalServer(url, model, port, pid)


def start_server(
    settings: ServerSettings,
    *,
    log_dir: Path,
    timeout_s: float = START_TIMEOUT_S,
    state_file: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> LocalServer:
    """Start a server and wait until it answers; raise with its stderr if it dies.

    ``state_file``: advertise the server there (``llm-extract serve`` does, so
    other processes reuse it).  ``extra_args``: more llama_cpp.server flags
    (later flags win, e.g. ``("--verbose", "True")`` for timings in the log).
    """
    port = settings.port or free_port(settings.host)
    url = base_url_for(settings.host, port)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"server-{port}.log"
    cmd = [*server_command(settings, port), *extra_args]
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED_ENV}
    log.warning("starting the local LLM server (%s) on %s", settings.model_name, url)
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
    server = LocalServer(url, settings.model_name, port, process.pid, process, log_path)
    atexit.register(server.stop)
    try:
        _wait_ready(server, timeout_s)
    except BaseException:
        server.stop()
        raise
    log.info("local LLM server ready in %.1fs (pid %d)", time.monotonic() - started, process.pid)
    if state_file is not None:
        state = {
            "pid": process.pid,
            "port": port,
            "host": settings.host,
            "model": settings.model_name,
            "model_path": str(settings.model_file()),
            "ctx": settings.ctx,
            "threads": settings.threads,
            "started_at": time.time(),
        }
        state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_name(state_file.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, state_file)
        server.state_path = state_file
    return server


def _wait_ready(server: LocalServer, timeout_s: float) -> None:
    assert server.process is not None
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        code = server.process.poll()
        if code is not None:
            raise BackendUnavailableError(
                f"the local LLM server exited with code {code} before it was ready. "
                f"Its last output ({server.log_path}):\n{server.stderr_tail()}"
            )
        if served_models(server.base_url, timeout=1.0) is not None:
            return
        if time.monotonic() > deadline:
            raise BackendUnavailableError(
                f"the local LLM server did not answer on {server.base_url} within "
                f"{timeout_s:.0f}s. Its last output:\n{server.stderr_tail()}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def serve_server(config: Config) -> LocalServer:
    """Start the long-lived server of ``llm-extract serve`` and advertise it.

    Other llm-extract processes on this machine find it through the state file
    and use it instead of loading their own copy of the model.
    """
    settings = ServerSettings.from_config(config)
    state_file = state_path(config)
    with exclusive(state_file.with_name(state_file.name + ".lock")):
        running = find_running(dataclasses.replace(settings, port=None), state_file)
        if running is not None:
            raise BackendUnavailableError(
                f"`llm-extract serve` is already running at {running.base_url} "
                f"(pid {running.pid}); use it, or stop it first"
            )
        if settings.port is not None and not port_is_free(settings.host, settings.port):
            raise BackendUnavailableError(
                f"port {settings.port} on {settings.host} is in use; pick another with --port"
            )
        return start_server(settings, log_dir=settings.cache_dir, state_file=state_file)


# -- the child process -----------------------------------------------------------
def _watch_parent(parent_pid: int) -> None:
    """Exit when the parent dies (even by SIGKILL), so no orphan holds 1 GB of RAM."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly
            time.sleep(STOP_TIMEOUT_S)
            os._exit(1)


def _child_main(argv: list[str]) -> None:
    import runpy

    parent_pid = None
    if argv[:1] == ["--parent-pid"]:
        parent_pid = int(argv[1])
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    sys.argv = ["llama_cpp.server", *argv]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _child_main(sys.argv[1:])
