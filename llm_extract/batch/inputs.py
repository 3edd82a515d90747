"""Expand the batch's INPUT arguments into letter paths, lazily.

An INPUT is one of:

- a file (``letter.pdf``, ``letter.txt``; any other suffix is still yielded so
  that the batch records it as an unsupported-format failure, not a silent skip);
- a folder: every ``.pdf``/``.txt`` under it, recursively, in sorted order;
- a glob (``letters/CM16-*.pdf``, ``archive/**/*.pdf``), sorted;
- a list file: ``@paths.txt``, or any file ending in ``.lst``/``.list``/``.paths``,
  one INPUT per line (folders and globs allowed; ``#`` starts a comment; relative
  paths are relative to the list file's folder);
- a path that does not exist: yielded as-is, so the batch records it as a
  failure (``LetterNotFoundError``) instead of dropping it.

Paths are yielded one at a time (folders are walked lazily by
:func:`llm_extract.loading.walk_letter_files`, as ``extract`` does), so
an archive of millions of letters never sits in memory as a list.  A path named
twice (directly and through a folder, say) is yielded twice: remembering every
path seen would make memory grow with the archive, and the batch extracts a
letter once anyway, because it keys letters by content.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError
from ..loading import SUPPORTED_SUFFIXES
from ..sources import walk_letter_files

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".lst", ".list", ".paths")
_GLOB_CHARS = frozenset("*?[")


class InputListError(InputError):
    """A list file (``@file``) that cannot be read."""


def is_glob(spec: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in spec)


def _read_list(list_file: Path) -> Iterator[str]:
    try:
        with list_file.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                p = Path(line).expanduser()
                yield str(p if p.is_absolute() else list_file.parent / p)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputListError(
            f"cannot read the list of paths {list_file}: {exc}", cause=exc
        ) from exc


def _expand_one(spec: str, *, in_list: bool) -> Iterator[Path]:
    if spec.startswith("@") and not in_list:
        for line in _read_list(Path(spec[1:]).expanduser()):
            yield from _expand_one(line, in_list=True)
        return
    p = Path(spec).expanduser()
    if p.is_dir():
        yield from walk_letter_files(p)
    elif p.is_file():
        if p.suffix.lower() in LIST_SUFFIXES and not in_list:
            for line in _read_list(p):
                yield from _expand_one(line, in_list=True)
        else:
            yield p
    elif is_glob(spec):
        matches = sorted(glob.iglob(str(p), recursive=True))
        if not matches:
            log.warning("the pattern %s matched no file", spec)
        for m in matches:
            mp = Path(m)
            if mp.is_dir():
                yield from walk_letter_files(mp)
            elif mp.suffix.lower() in SUPPORTED_SUFFIXES:
                yield mp
    else:
        yield p  # missing: the batch records it as a failure


def expand_inputs(specs: Iterable[str | Path]) -> Iterator[Path]:
    """Every letter path the INPUT arguments name, lazily, in order."""
    for spec in specs:
        yield from _expand_one(str(spec), in_list=False)


def count_inputs(specs: Iterable[str | Path]) -> int:
    """How many paths :func:`expand_inputs` yields (for the progress bar's total)."""
    return sum(1 for _ in expand_inputs(specs))
