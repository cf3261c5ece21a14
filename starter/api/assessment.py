"""/v1/cycles, /v1/plans, /v1/outages: assessment cycles and survey imports, improvement plans, interruptions.

Roles: anyone with a token reads; supervisors import surveys, submit and report on plans, report and restore
interruptions; admins start cycles and manage their schedules. Survey rows are reduced to score histograms here,
so personal columns in an export never reach Temporal.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from sla.commands import COMPLAINT_ID_PATTERN
from sla.cycles import BatchReceipt, CycleStatus, ReassessCycle
from sla.interruptions import InterruptionStatus, ReportInterruption, Restore
from sla.plans import PlanStatus, ReportProgress, RevisePlan, SubmitPlan
from sla.surveys import SurveyBatch, SurveyChannel, SurveyError, batch_from_rows
from starter.api.complaints import without_by
from starter.api.problems import ProblemError, known_query_only, responses
from starter.api.security import require
from starter.client.assessment import AssessmentClient, ThirdPartyRecorded
from starter.client.complaints import ComplaintClient
from starter.service.tokens import Principal, Role

router = APIRouter(prefix="/v1", tags=["assessment"], dependencies=[Depends(known_query_only)])

Name = Annotated[str, Path(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)]
PeriodText = Annotated[str, Path(min_length=4, max_length=7, pattern=r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$",
                                 description="2026-11 (month), 2026-Q3 (quarter) or 2026 (year)")]


def assessments(request: Request) -> AssessmentClient:
    complaints: ComplaintClient = request.app.state.complaints
    return AssessmentClient.of(complaints)


Assessments = Annotated[AssessmentClient, Depends(assessments)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartCycle(_Body):
    contract: str = Field(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)
    period: str = Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$", description="2026-11, 2026-Q3 or 2026")


class StartedCycle(CycleStatus):
    created: bool


class SurveyImport(_Body):
    """Survey answers as exported (rows); only the csat, nps and ces columns are read, everything else dropped."""

    channel: SurveyChannel
    batch_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN,
                                 description="Default: derived from the rows' content (a repeat is a no-op).")
    responses: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)


class Schedules(_Body):
    contracts: list[str] | None = Field(default=None, description="Default: every contract in the policy.")


class ScheduleRow(BaseModel):
    schedule_id: str
    contract: str
    cadence: str
    created: bool


# Bodies are the commands without `by` (the token's identity), so the API refuses with a 422 exactly what the
# command would refuse (blank text included) before anything reaches Temporal.
# mypy cannot see a model made at run time; it checks the bodies as the commands they are made from.
if TYPE_CHECKING:
    SubmitPlanBody = SubmitPlan
    ReviseBody = RevisePlan
    ProgressBody = ReportProgress
    ReportOutageBody = ReportInterruption
    RestoreBody = Restore
else:
    SubmitPlanBody = without_by(SubmitPlan, "SubmitPlanBody")
    ReviseBody = without_by(RevisePlan, "ReviseBody")
    ProgressBody = without_by(ReportProgress, "ProgressBody")
    ReportOutageBody = without_by(
        ReportInterruption, "ReportOutageBody",
        contract=(str, Field(min_length=1, max_length=200, pattern=COMPLAINT_ID_PATTERN)),
    )


class ReportedOutage(InterruptionStatus):
    created: bool


if not TYPE_CHECKING:
    RestoreBody = without_by(Restore, "RestoreBody")


class PlanRow(BaseModel):
    plan_id: str
    contract: str | None
    state: str | None
    breached: bool
    workflow_status: str | None


# ---- cycles ----------------------------------------------------------------------------------------------------
@router.post("/cycles", response_model=StartedCycle, status_code=201,
             responses={200: {"model": StartedCycle, "description": "The cycle existed."},
                        **responses(400, 401, 403, 409, 422, 503)},
             summary="Start the assessment cycle of a contract and period (admin)")
async def start_cycle(body: StartCycle, response: Response, client: Assessments,
                      principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> StartedCycle:
    status, created = await client.start_cycle(body.contract, body.period)
    response.status_code = 201 if created else 200
    return StartedCycle(**dict(status), created=created)


@router.post("/cycles/schedules", response_model=list[ScheduleRow], responses=responses(400, 401, 403, 422, 503),
             summary="Create or update the Temporal Schedules that start cycles (admin, idempotent)")
async def schedule(body: Schedules, client: Assessments,
                   principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> list[ScheduleRow]:
    return [ScheduleRow(**row) for row in await client.schedule_cycles(body.contracts)]


@router.get("/cycles/{contract}/{period}", response_model=CycleStatus, responses=responses(401, 403, 404, 422, 503),
            summary="A cycle's phase, survey batches and KPIs (agent)")
async def cycle(contract: Name, period: PeriodText, client: Assessments,
                principal: Annotated[Principal, Depends(require(Role.AGENT))]) -> CycleStatus:
    return await client.cycle_status(contract, period)


@router.post("/cycles/{contract}/{period}/retry", response_model=CycleStatus,
             responses=responses(400, 401, 403, 404, 422, 503),
             summary="Try a cycle's failed step again now, e.g. once what it waits on is corrected (admin)")
async def retry_cycle(contract: Name, period: PeriodText, client: Assessments,
                      principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> CycleStatus:
    return await client.retry_cycle(contract, period)


@router.get("/cycles/{contract}/{period}/report", responses={
    200: {"content": {"text/markdown": {}, "text/html": {}, "application/json": {}},
          "description": "The report in the requested format."},
    **responses(401, 403, 404, 409, 422, 503)},
    summary="A finished cycle's report: method, results, problems, suggestions, trends (agent)")
async def report(contract: Name, period: PeriodText, client: Assessments,
                 principal: Annotated[Principal, Depends(require(Role.AGENT))],
                 format: Annotated[Literal["json", "md", "html"], Query()] = "md") -> Response:
    text = await client.report(contract, period, format)
    if format == "html":
        return HTMLResponse(text)
    if format == "json":
        return Response(text, media_type="application/json")
    return PlainTextResponse(text, media_type="text/markdown")


@router.post("/cycles/{contract}/{period}/surveys", response_model=BatchReceipt,
             responses=responses(400, 401, 403, 404, 409, 422, 503),
             summary="Import survey answers into the cycle (supervisor; a repeated batch changes nothing)")
async def import_survey(contract: Name, period: PeriodText, body: SurveyImport, client: Assessments,
                        principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> BatchReceipt:
    return await client.import_survey(contract, period, _batch(body))


def _batch(body: SurveyImport) -> SurveyBatch:
    batch_id = body.batch_id or f"{body.channel.value}-" + hashlib.sha256(
        json.dumps(body.responses, sort_keys=True, default=str).encode()).hexdigest()[:16]
    try:
        return batch_from_rows(body.responses, channel=body.channel, batch_id=batch_id)
    except SurveyError as exc:
        raise ProblemError(422, "validation-error", f"responses: {exc}") from None


class Reassess(SurveyImport):
    """A late survey import for a closed cycle, and why it is assessed again (said in the recomputed report)."""

    reason: str = Field(min_length=1, max_length=1000, pattern=r"\S")


@router.post("/cycles/{contract}/{period}/reassess", response_model=CycleStatus,
             responses=responses(400, 401, 403, 404, 409, 422, 503),
             summary="Assess a closed cycle again with a late survey import; the report says when, who and why (admin)")
async def reassess_cycle(contract: Name, period: PeriodText, body: Reassess, client: Assessments,
                         principal: Annotated[Principal, Depends(require(Role.ADMIN))]) -> CycleStatus:
    command = ReassessCycle(reason=body.reason, by=principal.identity)
    return await client.reassess_cycle(contract, period, _batch(body), command)


class ThirdPartyScore(_Body):
    score: float = Field(ge=0, le=100, description="The agency's overall satisfaction score, 0-100.")
    agency: str = Field(min_length=1, max_length=200, pattern=r"\S", description="The independent agency.")


@router.post("/cycles/{contract}/{period}/third-party", response_model=ThirdPartyRecorded,
             responses=responses(400, 401, 403, 404, 409, 422, 503),
             summary="Record a third-party agency's overall score: into the cycle, or as the re-survey of the open "
                     "third-party plan once the cycle has reported (supervisor)")
async def third_party(contract: Name, period: PeriodText, body: ThirdPartyScore, client: Assessments,
                      principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> ThirdPartyRecorded:
    return await client.record_third_party(contract, period, body.score, body.agency, by=principal.identity)


# ---- plans -----------------------------------------------------------------------------------------------------
@router.get("/plans", response_model=list[PlanRow], responses=responses(401, 403, 422, 503),
            summary="Improvement plans from Temporal visibility (agent)")
async def plans(client: Assessments, principal: Annotated[Principal, Depends(require(Role.AGENT))],
                contract: Annotated[str | None, Query(max_length=200, pattern=COMPLAINT_ID_PATTERN)] = None,
                include_closed: bool = False) -> list[PlanRow]:
    return [PlanRow(**row) for row in await client.list_plans(contract=contract, open_only=not include_closed)]


@router.get("/plans/{plan_id}", response_model=PlanStatus, responses=responses(401, 403, 404, 422, 503),
            summary="A plan's clocks, misses, cycle results and escalations (agent)")
async def plan(plan_id: Name, client: Assessments,
               principal: Annotated[Principal, Depends(require(Role.AGENT))]) -> PlanStatus:
    return await client.plan_status(plan_id)


@router.post("/plans/{plan_id}/submit", response_model=PlanStatus,
             responses=responses(400, 401, 403, 404, 409, 422, 503),
             summary="Submit the plan: root cause, measures with owner and due date, expected effect (supervisor)")
async def submit_plan(plan_id: Name, body: SubmitPlanBody, client: Assessments,
                      principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> PlanStatus:
    return await client.submit_plan(plan_id, SubmitPlan(**body.model_dump(), by=principal.identity))


@router.post("/plans/{plan_id}/revise", response_model=PlanStatus,
             responses=responses(400, 401, 403, 404, 409, 422, 503),
             summary="Record a new version of a submitted plan after a review; earlier versions are kept (supervisor)")
async def revise_plan(plan_id: Name, body: ReviseBody, client: Assessments,
                      principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> PlanStatus:
    return await client.revise_plan(plan_id, RevisePlan(**body.model_dump(), by=principal.identity))


@router.post("/plans/{plan_id}/progress", response_model=PlanStatus,
             responses=responses(400, 401, 403, 404, 409, 422, 503), summary="Report progress on a plan (supervisor)")
async def plan_progress(plan_id: Name, body: ProgressBody, client: Assessments,
                        principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> PlanStatus:
    return await client.report_progress(plan_id, ReportProgress(**body.model_dump(), by=principal.identity))


# ---- interruptions ---------------------------------------------------------------------------------------------
@router.post("/outages", response_model=ReportedOutage, status_code=201,
             responses={200: {"model": ReportedOutage, "description": "The interruption existed."},
                        **responses(400, 401, 403, 409, 422, 503)},
             summary="Report a service interruption (supervisor)")
async def report_outage(body: ReportOutageBody, response: Response, client: Assessments,
                        principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> ReportedOutage:
    status, created = await client.report_outage(ReportInterruption(**body.model_dump(), by=principal.identity))
    response.status_code = 201 if created else 200
    return ReportedOutage(**dict(status), created=created)


@router.get("/outages/{outage_id}", response_model=InterruptionStatus, responses=responses(401, 403, 404, 422, 503),
            summary="An interruption's state, duration and breach (agent)")
async def outage(outage_id: Name, client: Assessments,
                 principal: Annotated[Principal, Depends(require(Role.AGENT))]) -> InterruptionStatus:
    return await client.outage_status(outage_id)


@router.post("/outages/{outage_id}/restore", response_model=InterruptionStatus,
             responses=responses(400, 401, 403, 404, 409, 422, 503), summary="The service is back (supervisor)")
async def restore_outage(outage_id: Name, body: RestoreBody, client: Assessments,
                         principal: Annotated[Principal, Depends(require(Role.SUPERVISOR))]) -> InterruptionStatus:
    return await client.restore_outage(outage_id, Restore(**body.model_dump(), by=principal.identity))
