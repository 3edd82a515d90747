"""``llm-extract serve``: the embedded llama.cpp server in the foreground."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType

import click

from ..config import load_config
from ..errors import BackendUnavailableError


@click.command("serve")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--ctx", type=int, default=None, help="Context size in tokens (default 4096).")
@click.option("--threads", type=int, default=None, help="CPU threads (default: all cores).")
def serve_command(port: int | None, ctx: int | None, threads: int | None) -> int:
    """Run the embedded local model (llama.cpp, OpenAI-compatible) until Ctrl-C.

    \b
    The server listens on 127.0.0.1 only.  Other llm-extract commands on this
    machine use it automatically instead of loading their own copy of the
    model; other tools can use the printed base URL.

    \b
    Example:
      llm-extract serve --port 8080
      llm-extract extract letter.pdf --backend llm   # reuses the server
    """
    from ..llm.local_server import serve_server

    config = load_config(local_port=port, local_ctx=ctx, local_threads=threads)
    started = time.monotonic()
    click.echo("loading the model (the first run assembles it, about 10 s)…", err=True)
    server = serve_server(config)

    def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():  # signal() only works there
        signal.signal(signal.SIGTERM, stop_on_sigterm)
    click.echo(
        f"serving {server.model} at {server.base_url} (pid {server.pid}, "
        f"ready in {time.monotonic() - started:.1f}s)\n"
        f"  llm-extract:  used automatically (or --base-url {server.base_url} "
        f"--model {server.model} --instructor-mode json)\n"
        f"  other tools:  OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY=sk-no-key\n"
        "Ctrl-C to stop.",
    )
    sys.stdout.flush()
    assert server.process is not None
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        click.echo("stopping…", err=True)
        return 0
    finally:
        server.stop()
    raise BackendUnavailableError(
        f"the local LLM server exited unexpectedly (code {code}). Its last output:\n"
        f"{server.stderr_tail()}"
    )
