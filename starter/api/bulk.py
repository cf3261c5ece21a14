"""/v1/complaints/bulk: one command (acknowledge, assign, extend) sent to many complaints, one at a time.

A desk clearing its morning queue acknowledges or assigns twenty complaints at once; a supervisor extends every
complaint stuck behind one outage. Each complaint is its own workflow, so there is no transaction to share: the
command goes to each in turn, and the answer says for each whether it was taken or why not (the same status and
sentence a single command would get). The fields and the caller's role are checked once, before any complaint
is touched, so a request refused as a whole changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sla.commands import COMMAND_MODELS, COMPLAINT_ID_PATTERN, Command
from starter.api.complaints import Complaints
from starter.api.problems import STATUS_OF_KIND, FieldProblem, ProblemError, known_query_only, responses, summary
from starter.api.security import require
from starter.client.complaints import ComplaintClient
from starter.client.errors import CxSlaError
from starter.service.tokens import Principal, Role, role_for_command

BULK_ACTIONS = ("acknowledge", "assign", "extend")
MAX_ITEMS = 100

router = APIRouter(prefix="/v1/complaints", tags=["complaints"], dependencies=[Depends(known_query_only)])

ComplaintIdField = Annotated[str, Field(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)]


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Literal["acknowledge", "assign", "extend"] = Field(
        description="acknowledge and assign: agent; extend: supervisor")
    ids: list[ComplaintIdField] = Field(min_length=1, max_length=MAX_ITEMS,
                                        description=f"the complaints, each once (at most {MAX_ITEMS})")
    fields: dict[str, Any] = Field(default_factory=dict, description=(
        "the command's fields, as for the single command route (e.g. assign: to, group; extend: clock, until, "
        "reason); `by` is the token's identity"))


class BulkItem(BaseModel):
    id: str
    ok: bool
    status: int = Field(description="what the single command would have answered: 200, 404, 409, 422 or 503")
    state: str | None = Field(default=None, description="the complaint's state after the command (when ok)")
    detail: str | None = Field(default=None, description="why it was refused (when not ok)")


class BulkResult(BaseModel):
    action: str
    succeeded: int
    failed: int
    results: list[BulkItem]


def bulk_command(action: str, fields: dict[str, Any], principal: Principal) -> Command:
    """The command every complaint of the request gets, or a 403/422 refusal of the whole request."""
    needed = role_for_command(action)
    if not principal.role.allows(needed):
        raise ProblemError(403, "forbidden", f"{principal.identity} has role {principal.role.value}; "
                                             f"{action} needs {needed.value} or higher")
    if "by" in fields:
        raise ProblemError(422, "validation-error", "fields.by: set from your token's identity; do not send it")
    try:
        return COMMAND_MODELS[action](**fields, by=principal.identity)
    except ValidationError as exc:
        problems = [FieldProblem(field=".".join(["fields", *(str(p) for p in e["loc"])]),
                                 message=str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()]
        raise ProblemError(422, "validation-error", summary(problems), errors=problems) from None


async def apply_bulk(complaints: ComplaintClient, action: str, ids: list[str], command: Command) -> BulkResult:
    """Send `command` to each complaint in turn; one refused complaint does not stop the others."""
    results = []
    for complaint_id in ids:
        try:
            status = await complaints.command(complaint_id, action, command)
        except CxSlaError as exc:
            results.append(BulkItem(id=complaint_id, ok=False, status=STATUS_OF_KIND.get(exc.kind, 422),
                                    detail=str(exc)))
        else:
            results.append(BulkItem(id=complaint_id, ok=True, status=200, state=status.state.value))
    succeeded = sum(item.ok for item in results)
    return BulkResult(action=action, succeeded=succeeded, failed=len(results) - succeeded, results=results)


@router.post("/bulk", response_model=BulkResult, responses=responses(400, 401, 403, 422, 503),
             summary="Acknowledge, assign or extend many complaints, one at a time (agent; extend: supervisor)")
async def bulk(
    body: BulkRequest, complaints_: Complaints, principal: Annotated[Principal, Depends(require(Role.AGENT))],
) -> BulkResult:
    """Each complaint gets the command in turn; `results` says for each whether it was taken (and the state it is
    in now) or why not. The answer is 200 whatever each complaint answered; a request whose fields or role are
    refused changes nothing (422 or 403)."""
    if len(set(body.ids)) != len(body.ids):
        raise ProblemError(422, "validation-error", "ids: name each complaint once")
    command = bulk_command(body.action, body.fields, principal)
    return await apply_bulk(complaints_, body.action, list(body.ids), command)
