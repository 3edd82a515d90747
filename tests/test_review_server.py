"""`llm-extract review` as a real server process: 127.0.0.1 only, and only with the token."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn", reason="the review extra is not installed")

from net_support import listening_sockets
from review_support import make_base_store, review_server

pytestmark = pytest.mark.corpus


# Run in a child process: pytest-recording's --block-network patches sockets here.
_PROBE = """
import socket, sys
port = int(sys.argv[1])
addrs = set()
try:
    for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
        addrs.add(info[4][0])
except OSError:
    pass
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.connect(("192.0.2.1", 9))  # sends nothing: picks the outgoing interface's address
    addrs.add(s.getsockname()[0])
except OSError:
    pass
s.close()
for a in sorted(a for a in addrs if not a.startswith("127.")):
    try:
        socket.create_connection((a, port), timeout=2).close()
        print(a, "connected")
    except OSError as exc:
        print(a, "refused", exc.errno)
"""


def _probe_other_addresses(port: int) -> dict[str, str]:
    """Connect to ``port`` on each non-loopback IPv4 address of this machine."""
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, str(port)], capture_output=True, text=True, timeout=60
    )
    return dict(line.split()[:2] for line in r.stdout.splitlines() if line.strip())


def test_the_server_listens_on_127_0_0_1_only_and_wants_the_token(
    corpus: Path, tmp_path: Path
) -> None:
    out = make_base_store(corpus, tmp_path)
    with review_server(out) as (url, token, _proc):
        port = int(url.rsplit(":", 1)[1])
        # the kernel's view: one listening socket, on 127.0.0.1 (0100007F), nothing else
        assert listening_sockets(port) == ["127.0.0.1"]  # one socket, loopback only
        # and from this machine's other addresses nothing answers
        probed = _probe_other_addresses(port)
        assert all(v == "refused" for v in probed.values()), probed
        print(f"other addresses probed: {probed or 'none on this machine'}")
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as c:
            assert c.get("/").status_code == 403
            assert c.get("/?token=not-the-token").status_code == 403
            r = c.get(f"/?token={token}")
            assert r.status_code == 200 and "llm-extract review" in r.text
            assert c.get("/").status_code == 200  # the cookie carries the token now
