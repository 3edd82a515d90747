"""Who may use the review app: loopback only, and the random token of this start.

Every request must carry the access token printed with the URL -- as
``?token=`` (then kept in an HttpOnly, SameSite=Strict cookie, and the address
bar is redirected to drop it) or that cookie.  Anything else is refused with
403, and so is a request whose ``Host`` is not a loopback name (a
DNS-rebinding page in the reviewer's browser cannot reach the app).  The
SameSite=Strict cookie also means a form posted from another site arrives
without it: refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

COOKIE = "llm_extract_review"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@dataclass
class Settings:
    reviewer: str
    token: str
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TokenGate(BaseHTTPMiddleware):
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
