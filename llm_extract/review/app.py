"""The review web app (Starlette): the queue, one letter, corrections.

Security: the server binds 127.0.0.1 only (:mod:`.server`), and every request
must carry the access token of this start (:mod:`.access`).

Pages are rendered on the server (Jinja2, autoescaped); forms post
``application/x-www-form-urlencoded`` bodies parsed here (no multipart
dependency); one small script adds keyboard shortcuts and the link between a
field and its highlighted evidence.  No asset comes from anywhere but the app.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..batch.corrections import (
    ITEMS,
    REOPENED,
    REVIEWED,
    UNUSABLE,
    ConflictError,
    ReviewDB,
    apply_corrections,
)
from ..batch.corrections import letter_ref as _letter_ref
from ..drugs import drug_of, forget_corrected
from ..field_paths import PathError, covers, get_path
from ..models import Decision
from .access import Settings, TokenGate
from .paths import field_specs, parse_input, spec_for, validate_value
from .queue import KIND_LABELS, KINDS, STATES, Filters, Queue
from .text import field_spans, letter_text, segments

PAGE_SIZE = 100

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("llm_extract.review", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["tojson_value"] = lambda v: json.dumps(v, ensure_ascii=False)
_STATIC = {"review.css": "text/css", "review.js": "text/javascript"}


def items_digest(items: list[Any]) -> str:
    """A short fingerprint of the item list a page was rendered from."""
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]


def _filters(params: Any) -> Filters:
    return Filters(
        reason=params.get("reason", ""),
        category=params.get("category", ""),
        decision=params.get("decision", ""),
        specialty=params.get("specialty", ""),
        state=params.get("state", ""),
        scope=params.get("scope", "queue"),
    )


async def _form(request: Request) -> dict[str, list[str]]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True)


def _display(spec_kind: str, value: Any) -> Any:
    """A JSON value as the form shows it."""
    if value is None:
        return ""
    if spec_kind == "list":
        return "\n".join(str(v) for v in value)
    return value


class ReviewApp:
    def __init__(self, db: ReviewDB, queue: Queue, settings: Settings) -> None:
        self.db = db
        self.queue = queue
        self.settings = settings

    # --- pages ----------------------------------------------------------------
    def queue_page(self, request: Request) -> Response:
        filters = _filters(request.query_params)
        try:
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            offset = 0
        entries, total = self.queue.page(filters, offset=offset, limit=PAGE_SIZE)
        snap = self.queue.snapshot()
        html = _env.get_template("queue.html").render(
            entries=entries,
            total=total,
            offset=offset,
            page_size=PAGE_SIZE,
            progress=snap.progress,
            filters=filters,
            query=filters.query(),
            kinds=KINDS,
            kind_labels=KIND_LABELS,
            states=STATES,
            categories=snap.categories,
            specialties=snap.specialties,
            decisions=[d.value for d in Decision],
            reviewer=self.settings.reviewer,
        )
        return HTMLResponse(html)

    def _letter_context(self, key: str, filters: Filters) -> dict[str, Any] | None:
        row = self.db.result(key)
        if row is None:
            return None
        entry = self.queue.entry(key)
        record = json.loads(row["record_json"]) if row["record_json"] else None
        letter = _letter_ref(row)
        corrections = self.db.corrections(letter)
        applied = apply_corrections(record, corrections) if record is not None else None
        text = letter_text(self.db, row, record)
        spans = field_spans(record) if record is not None and text.problem is None else {}
        segs = segments(text.text, spans) if text.text is not None else []
        fields = []
        evidence = {e["field"]: e for e in (record or {}).get("evidence") or []}
        flags = [f for f in (record or {}).get("review_flags") or [] if f.get("path")]
        checks: dict[str, list[dict[str, Any]]] = {}
        for c in (record or {}).get("checks") or []:
            checks.setdefault(str(c.get("field")), []).append(c)
        if applied is not None:
            for spec in field_specs(applied.record):
                value = get_path(applied.record, spec.path)
                fields.append(
                    {
                        "spec": spec,
                        "value": value,
                        "shown": _display(spec.kind, value),
                        "extracted": get_path(record, spec.path),
                        "evidence": evidence.get(spec.path),
                        "has_span": spec.path in spans,
                        "checks": checks.pop(spec.path, []),
                        "flags": [f for f in flags if covers(spec.path, f["path"])],
                        "corrected": applied.corrected.get(spec.path),
                        "accepted": applied.accepted.get(spec.path),
                        "stale": applied.stale.get(spec.path),
                    }
                )
        items = [
            {
                "index": i,
                "has_span": f"items[{i}]" in spans,
                "flags": [f for f in flags if f["path"] == f"items[{i}]"],
                "request": it.get("request"),
                "decision": it.get("decision"),
                # derived from the (corrected) medication name: shown, never edited
                "drug": drug_of(it.get("medication")),
            }
            for i, it in enumerate(
                (forget_corrected(applied.record, applied.corrected) if applied else {}).get(
                    "items"
                )
                or []
            )
        ]
        return {
            "row": row,
            "key": key,
            "entry": entry,
            "record": applied.record if applied else None,
            "fields": fields,
            "items": items,
            "items_sha": items_digest((applied.record if applied else {}).get("items") or []),
            "items_corrected": applied.corrected.get(ITEMS) if applied else None,
            "decisions": [d.value for d in Decision],
            "other_checks": [c for cs in checks.values() for c in cs],
            "segments": segs,
            "text_problem": text.problem,
            "state": self.db.state(letter),
            "history": list(reversed(corrections))[:50],
            "filters": filters,
            "query": filters.query(),
            "reviewer": self.settings.reviewer,
            "kind_labels": KIND_LABELS,
            "progress": self.queue.snapshot().progress,
            "error_field": None,
            "error": None,
            "notice": None,
        }

    def _render_letter(self, ctx: dict[str, Any], status: int = 200) -> Response:
        return HTMLResponse(_env.get_template("letter.html").render(**ctx), status_code=status)

    def letter_page(self, request: Request) -> Response:
        key = request.path_params["key"]
        ctx = self._letter_context(key, _filters(request.query_params))
        if ctx is None:
            return PlainTextResponse(f"no letter with key {key}", status_code=404)
        ctx["notice"] = request.query_params.get("saved") and "saved"
        return self._render_letter(ctx)

    def _back(self, key: str, filters: Filters, anchor: str = "", **extra: str) -> Response:
        q = filters.query()
        extra_q = urlencode(extra)
        qs = "&".join(x for x in (q, extra_q) if x)
        return RedirectResponse(
            f"/letter/{key}" + (f"?{qs}" if qs else "") + anchor, status_code=303
        )

    async def post_field(self, request: Request) -> Response:
        key = request.path_params["key"]
        form = await _form(request)
        filters = _filters({k: v[0] for k, v in form.items() if v})
        path = (form.get("field") or [""])[0]
        action = (form.get("action") or ["set"])[0]
        row = self.db.result(key)
        if row is None or not row["record_json"]:
            return PlainTextResponse(f"no extracted letter with key {key}", status_code=404)
        record = json.loads(row["record_json"])
        current = apply_corrections(record, self.db.corrections(_letter_ref(row))).record
        expected: Any = ...
        if "expected" in form:
            try:
                expected = json.loads(form["expected"][0])
            except ValueError:
                return PlainTextResponse("expected: not JSON", status_code=400)
        try:
            spec = spec_for(current, path)
            if action == "accept":
                value = get_path(current, path)
            elif action == "take":  # one side of a disagreement
                value = json.loads((form.get("value") or ["null"])[0])
            else:
                value = parse_input(spec, form.get("value") or [])
            _, value = validate_value(current, path, value)
        except (PathError, ValueError) as exc:
            return self._invalid(key, filters, path, str(exc))
        try:
            self.db.add_correction(
                key,
                path,
                value,
                reviewer=self.settings.reviewer,
                expected=expected,
                action="accept" if action == "accept" else "set",
            )
        except ConflictError as exc:
            return self._invalid(key, filters, path, str(exc), status=409)
        return self._back(key, filters, f"#f-{path}", saved=path)

    async def post_items(self, request: Request) -> Response:
        """Add an item (request + decision) or delete one: a correction of ``items``."""
        key = request.path_params["key"]
        form = await _form(request)
        filters = _filters({k: v[0] for k, v in form.items() if v})
        row = self.db.result(key)
        if row is None or not row["record_json"]:
            return PlainTextResponse(f"no extracted letter with key {key}", status_code=404)
        record = json.loads(row["record_json"])
        current = apply_corrections(record, self.db.corrections(_letter_ref(row))).record
        items = list(current.get("items") or [])
        if (form.get("items_sha") or [""])[0] != items_digest(items):
            return self._invalid(
                key,
                filters,
                "",
                "the items changed while you were editing: nothing was "
                "saved; check them and try again",
                status=409,
            )
        op = (form.get("op") or [""])[0]
        try:
            if op == "delete":
                index = int((form.get("index") or ["-1"])[0])
                if not 0 <= index < len(items):
                    raise ValueError(f"items: there is no item {index + 1}")
                new_items = items[:index] + items[index + 1 :]
            elif op == "add":
                new_items = [
                    *items,
                    {
                        "request": (form.get("request") or [""])[0],
                        "decision": (form.get("decision") or [""])[0],
                    },
                ]
            else:
                return PlainTextResponse(f"unknown op {op!r}", status_code=400)
            _, value = validate_value(current, ITEMS, new_items)
        except ValueError as exc:
            return self._invalid(key, filters, "", f"not saved: {exc}")
        try:
            self.db.add_correction(
                key, ITEMS, value, reviewer=self.settings.reviewer, expected=items
            )
        except ConflictError as exc:
            return self._invalid(key, filters, "", str(exc), status=409)
        return self._back(key, filters, saved=ITEMS)

    def _invalid(
        self, key: str, filters: Filters, path: str, message: str, status: int = 400
    ) -> Response:
        ctx = self._letter_context(key, filters)
        if ctx is None:
            return PlainTextResponse(message, status_code=status)
        ctx["error"] = message
        ctx["error_field"] = path
        return self._render_letter(ctx, status)

    async def post_state(self, request: Request) -> Response:
        key = request.path_params["key"]
        form = await _form(request)
        filters = _filters({k: v[0] for k, v in form.items() if v})
        status = (form.get("status") or [""])[0]
        note = (form.get("note") or [""])[0].strip()
        if status not in (REVIEWED, UNUSABLE, REOPENED):
            return PlainTextResponse(f"unknown status {status!r}", status_code=400)
        if status == UNUSABLE and not note:
            return self._invalid(
                key, filters, "", "say why the letter is unusable (a note is required)"
            )
        try:
            self.db.set_state(key, status, reviewer=self.settings.reviewer, note=note)
        except KeyError:
            return PlainTextResponse(f"no letter with key {key}", status_code=404)
        if status == REOPENED:
            return self._back(key, filters)
        nxt = self.queue.next_key(key, filters)
        if nxt is None:
            q = filters.query()
            return RedirectResponse("/" + (f"?{q}" if q else ""), status_code=303)
        return self._back(nxt, filters)

    def next_letter(self, request: Request) -> Response:
        filters = _filters(request.query_params)
        nxt = self.queue.next_key(request.query_params.get("after"), filters)
        q = filters.query()
        if nxt is None:
            return RedirectResponse("/" + (f"?{q}" if q else ""), status_code=303)
        return self._back(nxt, filters)

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("not found", status_code=404)
        body = resources.files("llm_extract.review").joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})


def create_app(db: ReviewDB, queue: Queue, settings: Settings) -> Starlette:
    app = ReviewApp(db, queue, settings)
    for name in ("queue.html", "letter.html"):
        _env.get_template(name)  # compiled now, not in the first reviewer's request
    return Starlette(
        routes=[
            Route("/", app.queue_page),
            Route("/letter/{key}", app.letter_page),
            Route("/letter/{key}/field", app.post_field, methods=["POST"]),
            Route("/letter/{key}/state", app.post_state, methods=["POST"]),
            Route("/letter/{key}/items", app.post_items, methods=["POST"]),
            Route("/next", app.next_letter),
            Route("/static/{name}", app.static),
        ],
        middleware=[Middleware(TokenGate, settings=settings)],
    )
