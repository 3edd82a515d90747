"""A full disk under the batch's store: a typed error, and the store left intact.

SQLite answers a write that finds no space with ``SQLITE_FULL`` and rolls the
transaction back, so every letter committed before stays and the next run
resumes from there; the batch only has to stop with a message saying so.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import DiskFullError


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
            "disk is full" in str(exc)
        )
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def writing(outdir: Path) -> Iterator[None]:
    """A write to the store: a full disk (or quota) becomes :class:`DiskFullError`.

    SQLite rolls the transaction back, so the store keeps every letter committed
    before and the next run resumes from there."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full_error(outdir, exc) from exc


def disk_full_error(outdir: Path, exc: BaseException) -> DiskFullError:
    return DiskFullError(
        f"the disk holding {outdir} is full ({exc}); the letters recorded so far are "
        "safe: free some space (or use an OUTDIR on a larger disk) and run the same "
        "command again to resume"
    )
