"""Run letters in a fenced worker process and check what must hold for every input.

The fuzzing campaign (tests/test_fuzz.py, benchmarks/fuzz.py) feeds mutated
letters (:mod:`.mutate`) through the public API, ``llm_extract.extract``.  A
mutated letter may make the code loop, balloon or crash, so each one runs in a
worker process whose address space is capped (``RLIMIT_AS``) and which the
parent kills when a letter outlives its time budget; the worker is then
replaced and the campaign goes on.

For each input, :func:`violations` states the invariants:

* only typed errors: anything raised is an :class:`~llm_extract.errors.ExtractionError`
  (a ``MemoryError`` under the cap is a broken memory bound, not a typed error);
* every item's decision comes from its own decision line: the item has a span
  in the letter text and the text there states that decision
  (:data:`llm_extract.document.outcomes.CUES`);
* a letter text holding two different case numbers is never one silent
  record: it is split, refused with a typed error, or the record is flagged
  ``needs_review``;
* a record's case number occurs in its letter;
* a record's values, evidence and checks agree (:func:`llm_extract.consistency.truth_violations`).

The hybrid backend runs against :class:`.fake_openai.FakeOpenAI` inside the
worker, answering schema-valid objects, nonsense, errors and cut-off JSON in
turn, so its arbitration meets hostile answers too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import resource
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..document.completeness import CASE_NUMBER

DEFAULT_MEMORY_BYTES = 2 * 1024**3
DEFAULT_BUDGET_S = 60.0

STATUSES = ("record", "typed", "untyped", "hang", "crash")
# The header reader takes a case number broken over lines and OCR's letters for
# digits ("CM17\n-0OO6912"); so does the check that it stands in the letter.
_LOOKALIKE_DIGITS = str.maketrans("OoIl", "0011")


def _squashed(text: str) -> str:
    return "".join(text.split()).translate(_LOOKALIKE_DIGITS).upper()


@dataclass
class Outcome:
    """What one input did: ``status`` is one of :data:`STATUSES`."""

    label: str
    status: str
    error: str | None = None  # the exception's class name
    message: str = ""
    seconds: float = 0.0
    max_rss_mb: float = 0.0  # peak resident memory so far: the worker or its largest child
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("record", "typed") and not self.violations


def letter_budget_s() -> float:
    """The per-letter time budget: ``Config.letter_seconds`` where it exists, at
    most :data:`DEFAULT_BUDGET_S` (every odd file is done within it)."""
    from ..config import load_config

    value = getattr(load_config(), "letter_seconds", None)
    return min(float(value), DEFAULT_BUDGET_S) if value else DEFAULT_BUDGET_S


def violations(records: Iterable[Any], text: str) -> list[str]:
    """Where records silently contradict the letter ``text`` they were read from."""
    from ..consistency import truth_violations
    from ..document.outcomes import CUES

    found: list[str] = []
    records = list(records)
    if len(records) == 1:  # a bundle's records point into their own letters' texts
        found.extend(truth_violations(records[0], text))
    cases = set(CASE_NUMBER.findall(text))
    if len(cases) > 1 and len(records) == 1 and not records[0].needs_review:
        found.append(f"one unflagged record from a text with case numbers {sorted(cases)}")
    squashed = _squashed(text)
    for record in records:
        if record.case_number and _squashed(record.case_number) not in squashed:
            found.append(f"case number {record.case_number!r} is not in the letter")
        for i, item in enumerate(record.items):
            if item.span is None:
                found.append(f"items[{i}] ({item.decision.value}) has no decision span")
                continue
            start, end = item.span.start, item.span.end
            if not 0 <= start <= end <= len(text):
                found.append(f"items[{i}] span {start}:{end} lies outside the text")
            elif not CUES[item.decision].search(text[start:end]):
                found.append(
                    f"items[{i}] is {item.decision.value} but its decision line says "
                    f"{text[start:end][-120:]!r}"
                )
    return found


# Values a confused or hostile model answers with: empty, made up, the letter's
# own words out of place, huge, extreme.
HOSTILE_STRINGS = (
    "",
    " ",
    "x",
    "Upheld",
    "Overturned",
    "CM99-9999999",
    "astronaut",
    "lumbar spine",
    "9999-99-99",
    "0000-01-01",
    "\u202e\x00",
    "N/A",
    "null",
    "y" * 5000,
)
HOSTILE_NUMBERS = (0, -1, -(10**9), 10**30, 2**63)


def hostile_answer(rng: random.Random) -> Callable[[dict[str, Any]], Any]:
    """A builder of answers shaped like the request's schema, with hostile leaves
    (some still valid, some not), for :meth:`.fake_openai.Reply.built`."""
    from .fake_schema import minimal_instance

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            grown = value + value[:1] * rng.choice((0, 0, 3))
            return [walk(v) for v in grown]
        if isinstance(value, bool):
            return rng.random() < 0.5
        if isinstance(value, int | float):
            return rng.choice((value, *HOSTILE_NUMBERS))
        if isinstance(value, str) or value is None:
            return rng.choice((value, *HOSTILE_STRINGS))
        return value

    return lambda schema: walk(minimal_instance(schema))


# --- inside the worker ---------------------------------------------------------------
class _Runner:
    """Extracts one file with ``rules`` or (against the in-process fake) ``hybrid``."""

    def __init__(self) -> None:
        self._fake: Any = None
        self._turn = 0
        self._rng = random.Random(19)

    def _fake_endpoint(self) -> dict[str, Any]:
        """The hybrid's settings against the in-process fake (started once)."""
        from .fake_openai import FakeOpenAI

        if self._fake is None:
            self._fake = FakeOpenAI().start()
        return {
            "base_url": self._fake.base_url,
            "model": "fake-model",
            "instructor_mode": "json",
            "schema_in_prompt": "no",
            "max_retries": 0,
            "max_reasks": 0,
            "timeout_s": 10.0,
        }

    def warm(self) -> None:
        """Imports, the fake endpoint and the hybrid's client: no letter's time."""
        import llm_extract

        llm_extract.get_backend("hybrid", llm_extract.load_config(**self._fake_endpoint()))

    def _hybrid_overrides(self) -> dict[str, Any]:
        from .fake_openai import Reply

        overrides = self._fake_endpoint()
        # Hostile answers in turn; the rest of the letter's calls get the default
        # (a minimal schema-valid object).
        hostile = (
            None,
            Reply.built(hostile_answer(self._rng)),
            Reply.built(hostile_answer(self._rng)),
            Reply.text("not json at all"),
            Reply.error(500),
            Reply.truncated(),
        )
        reply = hostile[self._turn % len(hostile)]
        self._turn += 1
        self._fake.requests.clear()  # recorded requests would grow without end
        if reply is not None:
            self._fake.push(reply)
        return overrides

    def run(self, path: str, backend: str, as_text: bool) -> tuple[str, str | None, str, list[str]]:
        """Extract ``path`` (or, ``as_text``, the string of its bytes) and check the record."""
        import llm_extract
        from llm_extract.api import to_letter
        from llm_extract.errors import ExtractionError

        overrides = self._hybrid_overrides() if backend == "hybrid" else {}
        source = Path(path).read_bytes().decode("utf-8", errors="replace") if as_text else path
        try:
            result = llm_extract.extract(source, backend=backend, **overrides)
        except ExtractionError as exc:
            return "typed", type(exc).__name__, str(exc)[:300], []
        except MemoryError as exc:
            return "untyped", type(exc).__name__, "out of memory under the cap", []
        except Exception as exc:
            return "untyped", type(exc).__name__, traceback.format_exc()[-2000:], []
        records = result if isinstance(result, list) else [result]
        return "record", None, "", violations(records, to_letter(source).text)


_RUSAGE = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)


def _serve(conn: Connection, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    runner = _Runner()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        path, backend, as_text = job
        if backend == "warm-up":
            runner.warm()
            conn.send(None)
            continue
        t0 = time.perf_counter()
        status, error, message, found = runner.run(path, backend, as_text)
        # The OCR engine may run as a child process (tesseract): under the same cap.
        rss_mb = max(resource.getrusage(who).ru_maxrss for who in _RUSAGE) / 1024
        conn.send((status, error, message, time.perf_counter() - t0, rss_mb, found))


# --- in the parent ---------------------------------------------------------------------
class Worker:
    """One fenced worker process; replaced after a hang or a crash.

    ``run`` sends a file, waits up to ``budget_s`` and returns its :class:`Outcome`.
    """

    def __init__(
        self, *, budget_s: float | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES
    ) -> None:
        self.budget_s = budget_s if budget_s is not None else letter_budget_s()
        self.memory_bytes = memory_bytes
        self._ctx = multiprocessing.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None
        self.restarts = 0

    def _start(self) -> Connection:
        if self._conn is None:
            parent, child = self._ctx.Pipe()
            self._proc = self._ctx.Process(
                target=_serve, args=(child, self.memory_bytes), daemon=True, name="fuzz-worker"
            )
            self._proc.start()
            child.close()
            self._conn = parent
            parent.send(("", "warm-up", False))
            if not parent.poll(120):
                raise RuntimeError("the fuzz worker did not start within 120 s")
            parent.recv()
        return self._conn

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(10)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None
        self.restarts += 1

    def run(
        self, path: str | Path, label: str, backend: str = "rules", *, as_text: bool = False
    ) -> Outcome:
        """Extract the file at ``path`` (``as_text``: pass its text to ``extract`` as a string)."""
        conn = self._start()
        t0 = time.perf_counter()
        conn.send((str(path), backend, as_text))
        try:
            ready = conn.poll(self.budget_s)
            reply = conn.recv() if ready else None
        except (EOFError, OSError):
            code = self._proc.exitcode if self._proc is not None else None
            self._kill()
            return Outcome(label, "crash", message=f"worker died (exit code {code})")
        if reply is None:
            self._kill()
            return Outcome(
                label,
                "hang",
                message=f"over the {self.budget_s:g} s budget",
                seconds=time.perf_counter() - t0,
            )
        status, error, message, seconds, rss_mb, found = reply
        return Outcome(label, status, error, message, seconds, rss_mb, found)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
        self._proc, self._conn = None, None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["CASE_NUMBER", "STATUSES", "Outcome", "Worker", "letter_budget_s", "violations"]
