"""The review web app (Starlette): the queue, one letter, corrections.

Security: the server binds 127.0.0.1 only (:mod:`llm_extract.cli.review_cmd`),
and every request must carry the random access token printed with the URL --
as ``?token=`` (then kept in an HttpOnly, SameSite=Strict cookie, and the
address bar is redirected to drop it) or that cookie.  Anything else is
refused with 403, and so is a request whose ``Host`` is not a loopback name
(a DNS-rebinding page in the reviewer's browser cannot reach the app).

Pages are rendered on the server (Jinja2, autoescaped); forms post
``application/x-www-form-urlencoded`` bodies parsed here (no multipart
dependency); one small script adds keyboard shortcuts and the link between a
field and its highlighted evidence.  No asset comes from anywhere but the app.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..models import Decision
from .corrections import REOPENED, REVIEWED, UNUSABLE, ConflictError, ReviewDB, apply_corrections
from .corrections import letter_ref as _letter_ref
from .paths import PathError, field_specs, get_path, parse_input, spec_for, validate_value
from .queue import KIND_LABELS, KINDS, STATES, Filters, Queue
from .text import field_spans, letter_text, segments

COOKIE = "llm_extract_review"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
PAGE_SIZE = 100

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("llm_extract.review", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["tojson_value"] = lambda v: json.dumps(v, ensure_ascii=False)
_STATIC = {"review.css": "text/css", "review.js": "text/javascript"}


@dataclass
class Settings:
    reviewer: str
    token: str
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS


def new_token() -> str:
    return secrets.token_urlsafe(24)


class _TokenGate(BaseHTTPMiddleware):
    def __init__(self, app: Any, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if request.headers.get("host", "").startswith("["):
            host = request.headers["host"].split("]")[0] + "]"
        if host not in self.settings.allowed_hosts:
            return PlainTextResponse(
                "forbidden: the review app answers only on 127.0.0.1", status_code=403
            )
        token = self.settings.token
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given, token):
            if request.method == "GET":
                # Drop the token from the address bar (history, Referer); the cookie holds it.
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                url = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                response: Response = RedirectResponse(url, status_code=303)
            else:
                response = await call_next(request)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and secrets.compare_digest(cookie, token):
            return await call_next(request)
        return PlainTextResponse(
            "forbidden: open the address printed by `llm-extract review` "
            "(it carries the access token)",
            status_code=403,
        )


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
                        "corrected": applied.corrected.get(spec.path),
                        "accepted": applied.accepted.get(spec.path),
                        "stale": applied.stale.get(spec.path),
                    }
                )
        items = [
            {
                "index": i,
                "has_span": f"items[{i}]" in spans,
                "request": it.get("request"),
                "decision": it.get("decision"),
            }
            for i, it in enumerate((applied.record if applied else {}).get("items") or [])
        ]
        return {
            "row": row,
            "key": key,
            "entry": entry,
            "record": applied.record if applied else None,
            "fields": fields,
            "items": items,
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
            Route("/next", app.next_letter),
            Route("/static/{name}", app.static),
        ],
        middleware=[Middleware(_TokenGate, settings=settings)],
    )
