"""Console sign-in: an API token exchanged for a session cookie, and the CSRF token every form carries.

The cookie holds only a random session id (HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS); the token
stays in this process's memory and is checked against the configured hashes on every request, so removing its
line from the tokens file signs the user out at the next click. Sessions live in memory: restarting the API
signs everyone out. Each form carries the session's CSRF token (compared in constant time); the sign-in form,
which has no session yet, carries a token bound to a short-lived sign-in cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.responses import Response

from starter.api.problems import ProblemError
from starter.api.security import authenticate
from starter.service.tokens import Principal, Role

SESSION_COOKIE = "cxsla_session"
SIGNIN_COOKIE = "cxsla_signin"
PATH = "/ui"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000


@dataclass
class Session:
    token: str
    csrf: str
    expires: float


class Sessions:
    """Session id -> token and CSRF token; the oldest sessions go first when there are too many."""

    def __init__(self, lifetime: float = SESSION_SECONDS) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self.lifetime = lifetime

    def open(self, token: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(token=token, csrf=secrets.token_urlsafe(32), expires=time.monotonic() + self.lifetime)
        self._sessions[sid] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid) if sid else None
        if session is not None and session.expires < time.monotonic():
            self.close(sid)
            return None
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)


@dataclass(frozen=True)
class Visitor:
    """A signed-in user: who they are (from their token) and their session's CSRF token."""

    principal: Principal
    csrf: str
    sid: str

    def refusal(self, request: Request, needed: Role) -> str | None:
        """The API's own words when this user's role is too low for `needed` (None: allowed)."""
        session = sessions_of(request).get(self.sid)
        if session is None:
            return "your session has ended; sign in again"
        try:
            authenticate(request.app.state.tokens, _bearer(session.token), needed)
        except ProblemError as exc:
            return exc.detail
        return None


def sessions_of(request: Request) -> Sessions:
    return request.app.state.console_sessions


def _bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def principal_of_token(request: Request, token: str) -> Principal | None:
    return request.app.state.tokens.authenticate(token)


def visitor(request: Request) -> Visitor | None:
    """The signed-in user, or None (no cookie, an ended session, or a token revoked since)."""
    sid = request.cookies.get(SESSION_COOKIE)
    session = sessions_of(request).get(sid)
    if session is None or sid is None:
        return None
    principal = principal_of_token(request, session.token)
    if principal is None:
        sessions_of(request).close(sid)
        return None
    return Visitor(principal=principal, csrf=session.csrf, sid=sid)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def same_origin(request: Request) -> bool:
    """A form posted from another site is refused even before its CSRF token is compared (browsers send
    Origin on every POST; a request without one is a script's, which has no cookie to ride on). The host is
    compared, not the scheme: behind a proxy that ends TLS the API sees http for an https page."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.partition("://")[2] == request.headers.get("host", request.url.netloc)


def csrf_ok(expected: str | None, sent: str | None) -> bool:
    return bool(expected) and bool(sent) and hmac.compare_digest(str(expected), str(sent))
