"""What the kernel says is listening: the proof that a server binds loopback only."""

from __future__ import annotations

import socket
from pathlib import Path


def listening_sockets(port: int) -> list[str]:
    """Local addresses listening on ``port``, one per socket, from /proc/net/tcp*.

    IPv4 addresses are dotted quads ("127.0.0.1"); IPv6 ones stay in the
    kernel's hex form.  One entry per listening socket, so a server that also
    listens on another address (or twice) shows up as more than one.
    """
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.partition(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A = LISTEN
                assert len(addr) == width
                found.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if width == 8 else addr)
    return found
