"""Where a local LLM server listens, and whether it answers: ports, URLs, pids.

The network and process checks :mod:`.local_server` makes when it finds,
starts and watches a server; none of them starts anything.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def base_url_for(host: str, port: int) -> str:
    return f"http://{url_host(host)}:{port}/v1"


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def served_models(base_url: str, timeout: float = 2.0) -> list[str] | None:
    """Model ids at ``base_url``/models, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as resp:
            payload = json.loads(resp.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return [str(m.get("id")) for m in payload.get("data", []) if isinstance(m, dict)]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def host_of(base_url: str) -> str:
    netloc = base_url.split("//", 1)[-1].split("/", 1)[0]
    return netloc.rsplit(":", 1)[0].strip("[]")


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
