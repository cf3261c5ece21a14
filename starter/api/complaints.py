"""/v1/complaints: open (idempotent), list with filters and cursor pages, status, and one route per command.

Request bodies are the commands of `sla.commands` without `by`: the acting identity comes from the token.
Everything is validated here and in ComplaintClient before Temporal is called, so a refused request changes
nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import inspect
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy.exc import SQLAlchemyError

from activities.archive_store import ArchiveError, Filters, export_lines
from sla.commands import COMMAND_MODELS, COMPLAINT_ID_PATTERN, Command, OpenComplaint
from sla.errors import plain
from sla.events import ASSIGNEE_PATTERN
from sla.status import ComplaintStatus
from sla.vocabulary import ComplaintState, Severity
from starter.api.problems import ProblemError, known_query_only, responses
from starter.api.security import require
from starter.client.complaints import ComplaintClient, Opened
from starter.service.archive import archive_of
from starter.service.tokens import Principal, Role, role_for_command

ID_PATTERN = COMPLAINT_ID_PATTERN
ComplaintId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN,
                                  description="The complaint id (the desk's ticket id).")]

router = APIRouter(prefix="/v1/complaints", tags=["complaints"], dependencies=[Depends(known_query_only)])


def complaints(request: Request) -> ComplaintClient:
    return request.app.state.complaints


Complaints = Annotated[ComplaintClient, Depends(complaints)]


def without_by(model: type[BaseModel], name: str, **replace: Any) -> type[BaseModel]:
    """`model`'s fields minus `by` (which the API sets from the token), as a new request-body model."""
    fields: dict[str, Any] = {
        field: (info.annotation, info) for field, info in model.model_fields.items() if field != "by"
    }
    fields.update(replace)
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), __doc__=model.__doc__,
                        **fields)


if TYPE_CHECKING:  # mypy cannot see a model made at run time; it checks the body as the command
    OpenComplaintBody = OpenComplaint
else:
    OpenComplaintBody = without_by(
        OpenComplaint, "OpenComplaintBody",
        id=(str | None, Field(default=None, min_length=1, max_length=200, pattern=ID_PATTERN,
                              description="Complaint id; a repeated open with the same id returns the existing "
                                          "complaint. May be left out when an Idempotency-Key header is sent.")),
    )


class OpenedComplaint(ComplaintStatus):
    created: bool = Field(description="false: the id existed and this is the existing complaint")


class ComplaintRow(BaseModel):
    id: str
    state: str | None
    severity: str | None
    contract: str | None
    breached: bool
    at_risk: bool
    next_deadline: datetime | None
    workflow_status: str | None
    assignee: str | None = None
    archived: bool = False  # read from the archive: Temporal no longer keeps the workflow
    category: str | None = None  # archived rows
    received_at: datetime | None = None  # archived rows


class ComplaintPage(BaseModel):
    items: list[ComplaintRow]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


def opened_document(opened: Opened) -> OpenedComplaint:
    return OpenedComplaint.model_construct(**dict(opened.status), created=opened.created)


async def open_complaint(complaints_: ComplaintClient, request: OpenComplaint, response: Response) -> OpenedComplaint:
    """Open (or find) the complaint: 201 when created, 200 when it existed."""
    opened = await complaints_.open(request)
    response.status_code = 201 if opened.created else 200
    response.headers["Location"] = f"/v1/complaints/{request.id}"
    return opened_document(opened)


@router.post(
    "", response_model=OpenedComplaint, status_code=201, responses={
        200: {"model": OpenedComplaint, "description": "The complaint existed: it is returned unchanged."},
        **responses(400, 401, 403, 409, 422, 503),
    },
    summary="Open a complaint (agent)",
)
async def open_(
    body: OpenComplaintBody,
    response: Response,
    complaints_: Complaints,
    principal: Annotated[Principal, Depends(require(Role.AGENT))],
    idempotency_key: Annotated[str | None, Header(
        max_length=200, description="Used as the complaint id when the body has none; if both are sent they "
                                    "must be equal.")] = None,
) -> OpenedComplaint:
    fields = body.model_dump(exclude_none=True)
    if idempotency_key is not None:
        if not re.match(ID_PATTERN, idempotency_key):
            raise ProblemError(422, "validation-error", "Idempotency-Key: use letters, digits and . _ : - "
                                                        "(it becomes the complaint id)")
        if fields.setdefault("id", idempotency_key) != idempotency_key:
            raise ProblemError(422, "validation-error",
                               "Idempotency-Key and id name different complaints; send one, or the same value")
    if "id" not in fields:
        raise ProblemError(422, "validation-error", "id: give the complaint an id or send an Idempotency-Key")
    request = OpenComplaint(**fields, by=principal.identity)
    return await open_complaint(complaints_, request, response)


@router.get("", response_model=ComplaintPage, responses=responses(400, 401, 403, 422, 503),
            summary="List complaints from Temporal visibility, or from the archive (agent)")
async def list_(
    complaints_: Complaints,
    principal: Annotated[Principal, Depends(require(Role.AGENT))],
    state: ComplaintState | None = None,
    contract: Annotated[str | None, Query(max_length=200, pattern=ID_PATTERN)] = None,
    breached: bool = False,
    at_risk: Annotated[bool, Query(description="needs attention: past a warning threshold or breached")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=4000, description="next_cursor of the previous page")] = None,
    assignee: Annotated[str | None, Query(max_length=100, pattern=ASSIGNEE_PATTERN,
                                          description="only complaints assigned to this agent")] = None,
    severity: Severity | None = None,
    received_from: Annotated[AwareDatetime | None, Query(description="received at or after")] = None,
    received_to: Annotated[AwareDatetime | None, Query(description="received before")] = None,
    category: Annotated[str | None, Query(max_length=200, description="searches the archive")] = None,
    customer_id: Annotated[str | None, Query(max_length=200, description="searches the archive")] = None,
    archived: Annotated[bool, Query(description="list the archive of ended complaints (also implied by "
                                                "category or customer_id)")] = False,
) -> ComplaintPage:
    filters: dict[str, Any] = {"state": state.value if state else None, "contract": contract, "breached": breached,
               "at_risk": at_risk}
    wider = {"assignee": assignee, "severity": severity.value if severity else None,
             "received_from": received_from, "received_to": received_to}
    filters.update({k: v for k, v in wider.items() if v is not None})  # the fingerprint of older cursors stays
    if archived or category is not None or customer_id is not None:
        if filters.pop("assignee", None) is not None:
            raise ProblemError(422, "validation-error", "assignee: the archive is not searched by assignee")
        return await _archived_page(complaints_, filters | {"category": category, "customer_id": customer_id},
                                    limit, cursor)
    fingerprint = hashlib.sha256(repr(sorted(filters.items())).encode()).digest()[:8]
    token = _read_cursor(cursor, fingerprint) if cursor else None
    rows, next_token = await complaints_.page(**filters, page_size=limit, page_token=token)
    return ComplaintPage(
        items=[ComplaintRow(**row) for row in rows],
        next_cursor=base64.urlsafe_b64encode(fingerprint + next_token).decode() if next_token else None,
    )


async def _archived_page(complaints_: ComplaintClient, filters: dict[str, Any], limit: int,
                         cursor: str | None) -> ComplaintPage:
    if filters.pop("at_risk"):
        return ComplaintPage(items=[], next_cursor=None)  # an ended complaint is never at risk
    fingerprint = hashlib.sha256(b"archive" + repr(sorted(filters.items())).encode()).digest()[:8]
    after = None
    if cursor:
        received, _, last = _read_cursor(cursor, fingerprint).decode().partition("|")
        after = (datetime.fromisoformat(received), last)
    filters["breached"] = True if filters["breached"] else None
    rows = await complaints_.archived_page(Filters(**filters), page_size=limit, after=after)
    next_cursor = None
    if len(rows) == limit:
        token = f"{rows[-1]['received_at']}|{rows[-1]['id']}".encode()
        next_cursor = base64.urlsafe_b64encode(fingerprint + token).decode()
    return ComplaintPage(items=[ComplaintRow(**row) for row in rows], next_cursor=next_cursor)


EXPORT_MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl"}


@router.get("/export", responses={200: {"content": {m: {} for m in EXPORT_MEDIA.values()},
                                        "description": "one row per archived complaint"},
                                   **responses(401, 403, 422, 503)},
            response_class=StreamingResponse,
            summary="Archived complaints of a period with their audit trails (agent; personal fields: supervisor)")
async def export(
    principal: Annotated[Principal, Depends(require(Role.AGENT))],
    request: Request,
    received_from: Annotated[AwareDatetime, Query(alias="from", description="received at or after")],
    received_to: Annotated[AwareDatetime, Query(alias="to", description="received before")],
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
    contract: Annotated[str | None, Query(max_length=200, pattern=ID_PATTERN)] = None,
) -> StreamingResponse:
    """The customer's name, contact and summary are included for supervisors and admins only."""
    store = archive_of(request.app.state.settings)
    try:
        await asyncio.to_thread(store.ensure)
    except (SQLAlchemyError, ArchiveError):
        raise ProblemError(503, "unavailable", "the archive cannot be read; try again later") from None
    personal = principal.role.allows(Role.SUPERVISOR)
    rows = store.export(Filters(contract=contract, received_from=received_from, received_to=received_to),
                        personal=personal)
    return StreamingResponse(export_lines(rows, fmt, personal=personal), media_type=EXPORT_MEDIA[fmt], headers={
        "Content-Disposition": f'attachment; filename="complaints.{fmt}"'})


def _read_cursor(cursor: str, fingerprint: bytes) -> bytes:
    """The page token inside a cursor issued for the same filters (the token alone would silently page a
    different query)."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) <= len(fingerprint) or raw[: len(fingerprint)] != fingerprint:
        raise ProblemError(400, "bad-cursor", "cursor was not issued by this API for these filters; "
                                              "start again without it")
    return raw[len(fingerprint):]


@router.get("/{complaint_id}", response_model=ComplaintStatus, responses=responses(401, 403, 404, 422, 503),
            summary="Clocks, breaches, escalations and timeline of one complaint (agent)")
async def status(
    complaint_id: ComplaintId, complaints_: Complaints,
    principal: Annotated[Principal, Depends(require(Role.AGENT))],
) -> ComplaintStatus:
    return await complaints_.status(complaint_id)


def _add_command_route(name: str, model: type[Command]) -> None:
    body_model = without_by(model, f"{model.__name__}Body")
    needed = role_for_command(name)
    optional = all(not info.is_required() for info in body_model.model_fields.values())

    async def command(
        complaint_id: str, complaints_: ComplaintClient, principal: Principal, body: BaseModel | None
    ) -> ComplaintStatus:
        fields = body.model_dump(exclude_unset=True) if body is not None else {}
        try:  # the body model has the fields; the command's own cross-field checks (assign: someone) run here
            command_ = model(**fields, by=principal.identity)
        except ValidationError as exc:
            raise ProblemError(422, "validation-error", plain(exc)) from None
        return await complaints_.command(complaint_id, name, command_)

    kw = inspect.Parameter.KEYWORD_ONLY
    body = (inspect.Parameter("body", kw, annotation=Annotated[body_model | None, Body()], default=None)
            if optional else inspect.Parameter("body", kw, annotation=Annotated[body_model, Body()]))
    command.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter("complaint_id", kw, annotation=ComplaintId),
        inspect.Parameter("complaints_", kw, annotation=Complaints),
        inspect.Parameter("principal", kw, annotation=Annotated[Principal, Depends(require(needed))]),
        body,
    ], return_annotation=ComplaintStatus)
    router.add_api_route(
        f"/{{complaint_id}}/{name}", command, methods=["POST"], response_model=ComplaintStatus,
        responses=responses(400, 401, 403, 404, 409, 422, 503), name=name, operation_id=name,
        summary=f"{name.replace('_', ' ').capitalize()} ({needed.value})",
        description=(model.__doc__ or "").strip() + f"\n\nNeeds role {needed.value} or higher; `by` is the "
                                                    f"token's identity.",
    )


for _name, _model in COMMAND_MODELS.items():
    _add_command_route(_name, _model)
