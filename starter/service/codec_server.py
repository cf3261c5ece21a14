"""`cxsla codec-server`: the remote codec endpoint for the Temporal UI and the `temporal` CLI
(`--codec-endpoint URL --codec-auth 'Bearer <token>'`), so authorised people can read encrypted histories.

POST /encode and /decode take and return `{"payloads": [...]}` (protobuf JSON of Payloads). A supervisor or
admin token is required, sent as the CLI sends it (`Authorization: Bearer`) or as the Temporal UI can: the UI
sends no header of ours, but with TEMPORAL_CODEC_INCLUDE_CREDENTIALS it sends the codec server's own cookies, so a
person signs in once at /session with their token and the UI's calls carry it (honoured only from the UI's origin,
so another site cannot ride on it). CORS admits only the configured origins (the Temporal UI's). A payload that
cannot be decrypted (its key is not configured) is returned unchanged, so a partly readable history still shows.

`open_on_loopback` (what `cxsla up` runs) lets a local user's UI decode without signing in: a request from this
machine, to a loopback host name, from the UI's origin or no browser origin at all. A refused /decode is answered
at once; the `temporal` CLI retries any refused request until its deadline (10 s), so to it (a Go HTTP client) the
refusal comes as an answer whose payloads each say why, instead of a history it would never show.
"""

from __future__ import annotations

import html
import json
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from starter.api import problems
from starter.api.problems import ProblemError
from starter.api.security import authenticate, bearer
from starter.service.codec import CodecError, EncryptionCodec
from starter.service.connection import payload_codec
from starter.service.settings import Settings
from starter.service.tokens import Principal, ReloadingTokens, Role, TokenStore

DECODE_ROLE = Role.SUPERVISOR
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
SESSION_COOKIE = "cxsla_codec"
SESSION_SECONDS = 12 * 3600
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
LOCAL = Principal("local", Role.ADMIN)  # a local user's UI under `cxsla up`


def is_loopback(host: str | None) -> bool:
    return bool(host) and (host in LOOPBACK_HOSTS or str(host).startswith("127."))


def _host_name(host_header: str) -> str:
    """The host name of a Host header (`127.0.0.1:8081`, `[::1]:8081`, `localhost`)."""
    return (urlsplit(f"//{host_header}").hostname or "") if host_header else ""


def refusal_payloads(count: int, reason: str) -> list[Payload]:
    """What a refused `temporal` CLI is shown in place of each payload: the reason, in plain JSON."""
    data = json.dumps({"refused": reason}).encode()
    return [Payload(metadata={"encoding": b"json/plain"}, data=data) for _ in range(count)]


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cx-sla codec server: sign in</title></head>
<body><main>
<h1>Read encrypted histories in the Temporal UI</h1>
<p>{message}</p>
<form method="post" action="session">
<label for="token">Your cx-sla token (supervisor or admin)</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="session/end"><button type="submit">Sign out</button></form>
</main></body></html>
"""


def create_codec_app(
    settings: Settings | None = None, *, codec: EncryptionCodec | None = None,
    tokens: TokenStore | ReloadingTokens | None = None, open_on_loopback: bool = False,
) -> FastAPI:
    settings = settings or Settings()
    codec = codec or payload_codec(settings)
    if not codec.keyring.keys:
        raise CodecError("the codec server has no keys to decode with: set CXSLA_CODEC_KEYS or CXSLA_CODEC_KEY_FILE")
    if open_on_loopback and not is_loopback(settings.codec_server_host):
        raise CodecError(f"decoding without a token is only for a codec server bound to loopback, not "
                         f"{settings.codec_server_host}")
    tokens = tokens if tokens is not None else ReloadingTokens(settings)
    origins = [o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()]

    app = FastAPI(title="cx-sla codec server", openapi_url=None, docs_url=None, redoc_url=None)
    problems.install(app)
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_credentials=True, allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )

    def principal_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        """Who asks: a bearer token, the sign-in cookie (from the UI's origin only), or a local user's UI."""
        origin = request.headers.get("origin")
        cookie = request.cookies.get(SESSION_COOKIE)
        if credentials is None and cookie:
            if origin not in origins:
                raise ProblemError(403, "forbidden", "the sign-in cookie is honoured only from the Temporal UI's "
                                                     "origin (CXSLA_CODEC_CORS_ORIGINS)")
            credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=cookie)
        if credentials is None and open_on_loopback and is_loopback(request.client.host if request.client else None) \
                and _host_name(request.headers.get("host", "")) in LOOPBACK_HOSTS \
                and (origin is None or origin in origins):
            return LOCAL
        return authenticate(tokens, credentials, DECODE_ROLE)

    async def payloads_of(request: Request) -> Payloads:
        try:
            return json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
            raise ProblemError(400, "invalid-payloads", f"expected {{\"payloads\": [...]}}: {exc}") from None

    def answer(payloads: list) -> JSONResponse:
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=payloads)))

    @app.post("/encode")
    async def encode(request: Request, credentials: Credentials) -> JSONResponse:
        principal_of(request, credentials)
        return answer([codec.encrypt(p) for p in (await payloads_of(request)).payloads])

    @app.post("/decode")
    async def decode(request: Request, credentials: Credentials) -> JSONResponse:
        try:
            principal_of(request, credentials)
        except ProblemError as refused:
            if not request.headers.get("user-agent", "").startswith("Go-http-client/"):
                raise
            return answer(refusal_payloads(len((await payloads_of(request)).payloads), refused.detail))
        decoded = []
        for payload in (await payloads_of(request)).payloads:
            try:
                decoded.append(codec.decrypt(payload))
            except CodecError:
                decoded.append(payload)
        return answer(decoded)

    @app.get("/session", response_class=HTMLResponse)
    async def sign_in_page() -> HTMLResponse:
        return HTMLResponse(SIGN_IN_PAGE.format(message="Sign in once; the Temporal UI (with "
                                                        "TEMPORAL_CODEC_INCLUDE_CREDENTIALS) then sends this sign-in "
                                                        "with every decode."))

    @app.post("/session", response_class=HTMLResponse)
    async def sign_in(request: Request) -> HTMLResponse:
        token = (parse_qs((await request.body()).decode(errors="replace")).get("token") or [""])[0].strip()
        principal = tokens.authenticate(token) if token else None
        if principal is None or not principal.role.allows(DECODE_ROLE):
            why = "that token is not known" if principal is None else \
                f"{principal.identity} has role {principal.role.value}; decoding needs {DECODE_ROLE.value} or higher"
            return HTMLResponse(SIGN_IN_PAGE.format(message=html.escape(f"Not signed in: {why}.")), status_code=403)
        page = HTMLResponse(SIGN_IN_PAGE.format(message=html.escape(
            f"Signed in as {principal.identity} ({principal.role.value}) for 12 hours.")))
        page.set_cookie(SESSION_COOKIE, token, max_age=SESSION_SECONDS, httponly=True, secure=True, samesite="none")
        return page

    @app.post("/session/end")
    async def sign_out() -> Response:
        page = HTMLResponse(SIGN_IN_PAGE.format(message="Signed out."))
        page.delete_cookie(SESSION_COOKIE, httponly=True, secure=True, samesite="none")
        return page

    return app
