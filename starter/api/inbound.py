"""POST /v1/inbound/{source}: a desk's own ticket-created webhook opens a complaint through a mapping file,
authenticated by an HMAC-SHA256 signature of a timestamp and the raw body instead of a bearer token (the timestamp
bounds how long a captured delivery can be replayed)."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from sla.commands import OpenComplaint
from starter.api.complaints import OpenedComplaint, complaints, open_complaint
from starter.api.problems import ProblemError, field_problems, responses, summary
from starter.service.inbound import InboundSource, MappingError

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])

SOURCE_DOC = "A source named in the inbound mapping file (CXSLA_INBOUND_CONFIG)."


@router.post(
    "/{source}", response_model=OpenedComplaint, status_code=201,
    responses={200: {"model": OpenedComplaint, "description": "The complaint existed: returned unchanged."},
               **responses(400, 401, 404, 409, 422, 503)},
    summary="Open a complaint from a desk's webhook (HMAC-signed)",
    description="The body is the desk's own JSON; the source's mapping turns it into an open request. The "
                "timestamp header (per source, default X-Cxsla-Timestamp) carries unix seconds, at most 5 minutes "
                "from now; the signature header (default X-Cxsla-Signature) carries `sha256=<hex>` of "
                "HMAC-SHA256(secret, timestamp + '.' + raw body). Events record `by` as `inbound:<source>`.",
    openapi_extra={"requestBody": {"required": True,
                                   "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def inbound(
    source: Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description=SOURCE_DOC)],
    request: Request, response: Response,
) -> OpenedComplaint:
    sources: dict[str, InboundSource] = request.app.state.inbound
    configured = sources.get(source)
    if configured is None:
        raise ProblemError(404, "unknown-source", f"no inbound source {source!r} is configured")
    raw = await request.body()
    refused = configured.refusal(raw, request.headers.get(configured.config.signature_header),
                                 request.headers.get(configured.config.timestamp_header), time.time())
    if refused:
        raise ProblemError(401, "bad-signature", refused)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProblemError(400, "invalid-json", f"the body is not valid JSON ({exc})") from None
    try:
        fields = configured.map(body)
        request_ = OpenComplaint(**fields, by=f"inbound:{source}")
    except MappingError as exc:
        raise ProblemError(422, "unmappable", str(exc)) from None
    except ValidationError as exc:
        problems = field_problems([dict(e) for e in exc.errors()])
        for problem in problems:
            path = configured.config.fields.get(problem.field)  # type: ignore[call-overload]
            if path:
                problem.message += f" (from {path})"
        raise ProblemError(422, "validation-error", summary(problems), errors=problems) from None
    return await open_complaint(complaints(request), request_, response)
