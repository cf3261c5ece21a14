"""`cxsla codec-server`: the remote codec endpoint for the Temporal UI and the `temporal` CLI
(`--codec-endpoint URL --codec-auth 'Bearer <token>'`), so authorised people can read encrypted histories.

POST /encode and /decode take and return `{"payloads": [...]}` (protobuf JSON of Payloads). A supervisor or
admin token is required; CORS admits only the configured origins (the Temporal UI's). A payload that cannot
be decrypted (its key is not configured) is returned unchanged, so a partly readable history still shows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Request, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from starter.api import problems
from starter.api.problems import ProblemError
from starter.api.security import authenticate, bearer
from starter.service.codec import CodecError, EncryptionCodec
from starter.service.connection import payload_codec
from starter.service.settings import Settings
from starter.service.tokens import ReloadingTokens, Role, TokenStore

DECODE_ROLE = Role.SUPERVISOR
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]


def create_codec_app(
    settings: Settings | None = None, *, codec: EncryptionCodec | None = None,
    tokens: TokenStore | ReloadingTokens | None = None,
) -> FastAPI:
    settings = settings or Settings()
    codec = codec or payload_codec(settings)
    if not codec.keyring.keys:
        raise CodecError("the codec server has no keys to decode with: set CXSLA_CODEC_KEYS or CXSLA_CODEC_KEY_FILE")
    tokens = tokens if tokens is not None else ReloadingTokens(settings)
    origins = [o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()]

    app = FastAPI(title="cx-sla codec server", openapi_url=None, docs_url=None, redoc_url=None)
    problems.install(app)
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_credentials=True, allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )

    async def payloads_of(request: Request) -> Payloads:
        try:
            return json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
            raise ProblemError(400, "invalid-payloads", f"expected {{\"payloads\": [...]}}: {exc}") from None

    def answer(payloads: list) -> JSONResponse:
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=payloads)))

    @app.post("/encode")
    async def encode(request: Request, credentials: Credentials) -> JSONResponse:
        authenticate(tokens, credentials, DECODE_ROLE)
        return answer([codec.encrypt(p) for p in (await payloads_of(request)).payloads])

    @app.post("/decode")
    async def decode(request: Request, credentials: Credentials) -> JSONResponse:
        authenticate(tokens, credentials, DECODE_ROLE)
        decoded = []
        for payload in (await payloads_of(request)).payloads:
            try:
                decoded.append(codec.decrypt(payload))
            except CodecError:
                decoded.append(payload)
        return answer(decoded)

    return app
