"""Serve the review app on 127.0.0.1 only (uvicorn), on a port of the OS's choosing.

The socket is bound here, before uvicorn starts, so the printed address has
the real port (``--port 0``) and the host is fixed: there is no option to
listen anywhere but the loopback interface.
"""

from __future__ import annotations

import socket
from typing import Any

from ..errors import ConfigError

HOST = "127.0.0.1"


def bind(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {HOST}:{port}: {exc.strerror}; pick another --port (0 = any free)"
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, sock: socket.socket) -> None:
    """Run until interrupted (Ctrl-C)."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ConfigError(
            'the review app needs the review extra: pip install "llm-extract[review]"',
            cause=exc,
        ) from exc
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
