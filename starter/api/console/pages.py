"""The console's routes under /ui: sign in, board, complaint, reports, and the forms that act through the same
client calls and role checks as the API (a refused form shows the API's own sentence)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from sla import names
from sla.commands import COMMAND_MODELS, COMPLAINT_ID_PATTERN
from sla.errors import plain
from sla.status import ComplaintStatus
from sla.surveys import SurveyChannel, SurveyError, batch_from_rows
from starter.api.bulk import BULK_ACTIONS, BulkRequest, apply_bulk, bulk_command
from starter.api.console import session as s
from starter.api.console import views as v
from starter.api.problems import STATUS_OF_KIND, ProblemError
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient
from starter.client.errors import CxSlaError
from starter.service.tokens import Role, role_for_command
from workflows import search_attributes as sa

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
                               "object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# The embedded report is the worker's self-contained page: its own inline styles, no scripts, nothing fetched.
REPORT_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
                                                             "img-src data:; frame-ancestors 'self'"}
STATUS_STATES = ", ".join(v.OPEN_STATES)
LIST_LIMIT = 1000  # complaints read from visibility for one board (sorted here, the first BOARD_LIMIT shown)
STATUS_READS = 8  # complaints whose status one board reads at once (category and text search)


class CsrfRefused(Exception):
    """A form whose origin or CSRF token does not match its session: refused before anything is read from it."""


class NeedSignIn(Exception):
    """Raised by a page for a visitor without a session: answered with a redirect to the sign-in page."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def install(app: Any) -> None:
    app.state.console_sessions = s.Sessions()
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    @app.exception_handler(NeedSignIn)
    async def _sign_in(request: Request, exc: NeedSignIn) -> Response:
        if request.headers.get("x-cxsla-fragment"):  # the board's refresh: the script sends the page to sign-in
            return Response("sign in again", status_code=401, headers=PAGE_HEADERS)
        return RedirectResponse(f"/ui/signin?{urlencode({'next': exc.target})}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        message = "This form is out of date or came from another site: reload the page and send it again."
        return page(request, "error.html", {"status": 403, "message": message}, 403, s.visitor(request))


def page(request: Request, name: str, context: dict[str, Any], status: int = 200,
         visitor: s.Visitor | None = None) -> HTMLResponse:
    context = {"visitor": visitor, "now": datetime.now(timezone.utc), **context}
    return templates.TemplateResponse(request, name, context, status_code=status, headers=PAGE_HEADERS)


def signed_in(request: Request) -> s.Visitor:
    who = s.visitor(request)
    if who is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedSignIn(target if request.method == "GET" else "/ui/board")
    return who


async def posted(request: Request) -> tuple[s.Visitor, FormData]:
    """The form of a signed-in user's POST, once its origin and CSRF token are checked."""
    who = signed_in(request)
    form = await request.form()
    if not s.same_origin(request) or not s.csrf_ok(who.csrf, _text(form.get("csrf"))):
        raise CsrfRefused
    return who, form


def _text(value: str | UploadFile | None) -> str | None:
    return value if isinstance(value, str) else None


def _offset(form: FormData) -> int | None:
    try:
        return int(_text(form.get("tz_offset")) or "")
    except ValueError:
        return None


def complaints_of(request: Request) -> ComplaintClient:
    return request.app.state.complaints


def refused_status(exc: CxSlaError) -> int:
    return STATUS_OF_KIND.get(exc.kind, 422)


# ---- sign in ----------------------------------------------------------------------------------------------------
@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/board", status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a page of the console (never another site, never `//host`)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/board"


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(request, "signin.html", {"csrf": token, "next": _safe_next(next), "error": None})
    s.set_cookie(response, request, s.SIGNIN_COOKIE, token, max_age=600)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    target = _safe_next(_text(form.get("next")))
    token = (_text(form.get("token")) or "").strip()

    def again(message: str, status: int) -> HTMLResponse:
        fresh = secrets.token_urlsafe(32)
        response = page(request, "signin.html", {"csrf": fresh, "next": target, "error": message}, status)
        s.set_cookie(response, request, s.SIGNIN_COOKIE, fresh, max_age=600)
        return response

    if not s.same_origin(request) or not s.csrf_ok(request.cookies.get(s.SIGNIN_COOKIE), _text(form.get("csrf"))):
        return again("The sign-in form had expired; it has been renewed: send your token again.", 403)
    if not token:
        return again("token: paste the API token you were given (cxsla token new).", 422)
    if s.principal_of_token(request, token) is None:
        return again("That token is not known (revoked or mistyped).", 401)
    sid, _ = s.sessions_of(request).open(token)
    response = RedirectResponse(target, status_code=303)
    s.set_cookie(response, request, s.SESSION_COOKIE, sid, max_age=s.SESSION_SECONDS)
    response.delete_cookie(s.SIGNIN_COOKIE, path=s.PATH)
    return response


@router.post("/signout")
async def signout(request: Request) -> RedirectResponse:
    who, _ = await posted(request)
    s.sessions_of(request).close(who.sid)
    response = RedirectResponse("/ui/signin", status_code=303)
    response.delete_cookie(s.SESSION_COOKIE, path=s.PATH)
    return response


# ---- board ------------------------------------------------------------------------------------------------------
async def board_rows(complaints: ComplaintClient, filters: v.BoardFilters) -> list[dict[str, Any]]:
    rows = await complaints.rows(filters.query(), limit=LIST_LIMIT)
    if filters.needs_status:
        limit = asyncio.Semaphore(STATUS_READS)

        async def status(row: dict[str, Any]) -> ComplaintStatus | None:
            async with limit:
                try:
                    return await complaints.status(row["id"])
                except CxSlaError:  # closed meanwhile, or unreadable: not shown
                    return None

        statuses = await asyncio.gather(*(status(row) for row in rows))
        rows = [row for row, st in zip(rows, statuses, strict=True) if v.matches(row, st, filters)]
    return v.by_deadline(rows)[: v.BOARD_LIMIT]


async def board_context(request: Request, who: s.Visitor, params: dict[str, str]) -> tuple[dict[str, Any], int]:
    complaints = complaints_of(request)
    context: dict[str, Any] = {"params": params, "rows": [], "error": None, "results": None,
                               "contracts": sorted(complaints.policy.contracts), "states": v.OPEN_STATES,
                               "severities": [x for x in v.CHOICES["severity"]], "signal": v.signal,
                               "bulk_actions": [a for a in BULK_ACTIONS
                                                if who.principal.role.allows(role_for_command(a))],
                               "bulk_fields": _bulk_fields(), "query": urlencode(params)}
    try:
        filters = v.BoardFilters.read(params, who.principal.identity)
        context["rows"] = await board_rows(complaints, filters)
    except v.FilterError as exc:
        context["error"] = str(exc)
        return context, 422
    except CxSlaError as exc:
        context["error"] = str(exc)
        return context, refused_status(exc)
    return context, 200


def _bulk_fields() -> list[v.FormField]:
    seen: dict[str, v.FormField] = {}
    for action in BULK_ACTIONS:
        for spec in v.form_fields(action):
            seen.setdefault(spec.name, spec)
    return [f.__class__(f.name, f.label, f.kind, False, f.choices, f.low, f.high) for f in seen.values()]


def _params(request: Request) -> dict[str, str]:
    keys = ("contract", "severity", "category", "assignee", "state", "at_risk", "breached", "q", "mine")
    return {k: request.query_params[k] for k in keys if request.query_params.get(k)}


@router.get("/board")
async def board(request: Request) -> HTMLResponse:
    who = signed_in(request)
    context, status = await board_context(request, who, _params(request))
    return page(request, "board.html", context, status, who)


@router.get("/board/rows")
async def board_fragment(request: Request) -> HTMLResponse:
    """The board's rows alone: what its script fetches every few seconds to refresh without a reload."""
    who = signed_in(request)
    context, status = await board_context(request, who, _params(request))
    return page(request, "_rows.html", context, status, who)


@router.post("/board/bulk")
async def board_bulk(request: Request) -> HTMLResponse:
    who, form = await posted(request)
    params = {k: val for k, val in ((k, _text(form.get(f"filter_{k}"))) for k in
              ("contract", "severity", "category", "assignee", "state", "at_risk", "breached", "q", "mine")) if val}
    context, _ = await board_context(request, who, params)
    action = _text(form.get("action")) or ""
    ids = [i for i in (_text(x) for x in form.getlist("ids")) if i]
    if action not in BULK_ACTIONS:
        context["error"] = f"action: choose one of {', '.join(BULK_ACTIONS)}"
        return page(request, "board.html", context, 422, who)
    try:
        request_ = BulkRequest(action=action, ids=ids, fields=v.form_values(action, dict(_texts(form)),
                                                                             _offset(form)))
        if len(set(request_.ids)) != len(request_.ids):
            raise ProblemError(422, "validation-error", "ids: name each complaint once")
        command = bulk_command(action, request_.fields, who.principal)
    except ValidationError as exc:
        context["error"] = "ids: select at least one complaint" if not ids else plain(exc)
        return page(request, "board.html", context, 422, who)
    except ProblemError as exc:
        context["error"] = exc.detail
        return page(request, "board.html", context, exc.status, who)
    context["results"] = await apply_bulk(complaints_of(request), action, list(request_.ids), command)
    context["rows"] = (await board_context(request, who, params))[0]["rows"]
    return page(request, "board.html", context, 200, who)


def _texts(form: FormData) -> list[tuple[str, str]]:
    return [(k, val) for k, val in form.multi_items() if isinstance(val, str)]


# ---- complaint --------------------------------------------------------------------------------------------------
async def complaint_page(request: Request, who: s.Visitor, complaint_id: str, *, error: str | None = None,
                         status_code: int = 200, done: str | None = None, command: str | None = None) -> HTMLResponse:
    if not re.fullmatch(COMPLAINT_ID_PATTERN, complaint_id) or len(complaint_id) > 200:
        return page(request, "error.html", {"status": 404, "message": "no complaint has that id"}, 404, who)
    try:
        status = await complaints_of(request).status(complaint_id)
    except CxSlaError as exc:
        return page(request, "error.html", {"status": refused_status(exc), "message": str(exc)},
                    refused_status(exc), who)
    now = datetime.now(timezone.utc)
    actions = [(name, v.form_fields(name)) for name in v.allowed_actions(status, who.principal)]
    context = {"status": status, "bars": v.clock_bars(status, now), "timeline": v.timeline_rows(status),
               "actions": actions, "error": error, "done": done, "failed_command": command}
    return page(request, "complaint.html", context, status_code, who)


@router.get("/complaints/{complaint_id}")
async def complaint(request: Request, complaint_id: str, done: str | None = None) -> HTMLResponse:
    who = signed_in(request)
    return await complaint_page(request, who, complaint_id, done=done if done in COMMAND_MODELS else None)


@router.post("/complaints/{complaint_id}/{command}")
async def act(request: Request, complaint_id: str, command: str) -> Response:
    who, form = await posted(request)
    if command not in COMMAND_MODELS:
        return page(request, "error.html", {"status": 404, "message": f"no command {command[:40]!r}"}, 404, who)
    refusal = who.refusal(request, role_for_command(command))
    if refusal is not None:
        return await complaint_page(request, who, complaint_id, error=refusal, status_code=403, command=command)
    values = v.form_values(command, dict(_texts(form)), _offset(form))
    try:
        model = COMMAND_MODELS[command](**values, by=who.principal.identity)
    except ValidationError as exc:
        return await complaint_page(request, who, complaint_id, error=plain(exc), status_code=422, command=command)
    try:
        await complaints_of(request).command(complaint_id, command, model)
    except CxSlaError as exc:
        return await complaint_page(request, who, complaint_id, error=str(exc), status_code=refused_status(exc),
                                    command=command)
    return RedirectResponse(f"/ui/complaints/{quote(complaint_id)}?done={command}", status_code=303)


# ---- reports ----------------------------------------------------------------------------------------------------
async def _workflow_ids(complaints: ComplaintClient, query: str, limit: int) -> list[tuple[str, str]]:
    """(workflow id, execution status) of the workflows a visibility query lists, newest first."""
    return [(row["workflow_id"], row["workflow_status"]) for row in await complaints.rows(query, limit=limit)]


@router.get("/reports")
async def reports(request: Request, contract: str | None = None, period: str | None = None,
                  message: str | None = None) -> HTMLResponse:
    who = signed_in(request)
    return await reports_page(request, who, contract, period, message=message)


async def reports_page(request: Request, who: s.Visitor, contract: str | None, period: str | None, *,
                       message: str | None = None, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    complaints = complaints_of(request)
    assessments = AssessmentClient.of(complaints)
    contracts = sorted(complaints.policy.contracts)
    context: dict[str, Any] = {"contracts": contracts, "cycles": {}, "plans": [], "outages": [], "selected": None,
                               "message": message, "error": error, "channels": [c.value for c in SurveyChannel
                                                                                if c is not SurveyChannel.COMPLAINT],
                               "can_start": who.principal.role.allows(Role.ADMIN),
                               "can_import": who.principal.role.allows(Role.SUPERVISOR)}
    try:
        for name in contracts:
            query = names.of_type(names.CYCLE_WORKFLOW, **{sa.CONTRACT.name: name})
            prefix = names.cycle_workflow_id(name, "")
            context["cycles"][name] = [(wid.removeprefix(prefix), state)
                                       for wid, state in await _workflow_ids(complaints, query, 24)]
        plans = await assessments.list_plans(open_only=False)
        context["plans"] = [await assessments.plan_status(row["plan_id"]) for row in plans[:20]]
        outages = await _workflow_ids(complaints, names.of_type(names.INTERRUPTION_WORKFLOW), 20)
        context["outages"] = [await assessments.outage_status(wid.removeprefix(names.OUTAGE_PREFIX))
                              for wid, _ in outages]
        if contract in contracts and period:
            context["selected"] = await assessments.cycle_status(contract, period)
    except CxSlaError as exc:
        context["error"] = context["error"] or str(exc)
        status_code = max(status_code, refused_status(exc))
    return page(request, "reports.html", context, status_code, who)


@router.get("/reports/{contract}/{period}/report.html")
async def report_html(request: Request, contract: str, period: str) -> Response:
    signed_in(request)
    try:
        text = await AssessmentClient.of(complaints_of(request)).report(contract, period, "html")
    except CxSlaError as exc:
        return HTMLResponse(f"<p>{_escape(str(exc))}</p>", status_code=refused_status(exc), headers=REPORT_HEADERS)
    return HTMLResponse(text, headers=REPORT_HEADERS)


def _escape(text: str) -> str:
    return str(escape(text))


async def reports_form(request: Request, needed: Role) -> tuple[s.Visitor, FormData, str, str, Response | None]:
    """A reports form: who sent it, the form, its contract and period, and the page refusing their role (if)."""
    who, form = await posted(request)
    contract, period = _text(form.get("contract")) or "", (_text(form.get("period")) or "").strip()
    refusal = who.refusal(request, needed)
    refused = None if refusal is None else await reports_page(request, who, None, None, error=refusal,
                                                              status_code=403)
    return who, form, contract, period, refused


@router.post("/reports/cycles")
async def start_cycle(request: Request) -> Response:
    who, _, contract, period, refused = await reports_form(request, Role.ADMIN)
    if refused is not None:
        return refused
    try:
        status, created = await AssessmentClient.of(complaints_of(request)).start_cycle(contract, period)
    except CxSlaError as exc:
        return await reports_page(request, who, None, None, error=str(exc), status_code=refused_status(exc))
    said = "started" if created else "already exists"
    target = urlencode({"contract": status.contract, "period": status.period, "message": f"cycle {status.id} {said}"})
    return RedirectResponse(f"/ui/reports?{target}", status_code=303)


@router.post("/reports/surveys")
async def import_survey(request: Request) -> Response:
    who, form, contract, period, refused = await reports_form(request, Role.SUPERVISOR)
    if refused is not None:
        return refused
    upload = form.get("file")
    channel_text = _text(form.get("channel")) or ""
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise SurveyError("file: choose the CSV export of the survey")
        try:
            channel = SurveyChannel(channel_text)
        except ValueError:
            raise SurveyError("channel: choose where the answers came from") from None
        raw = await upload.read()
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        batch = batch_from_rows(rows, channel=channel,  # the batch id the CLI gives the same file
                                batch_id=f"{channel.value}-{hashlib.sha256(raw).hexdigest()[:16]}")
    except (ValueError, UnicodeDecodeError) as exc:  # SurveyError and CSV errors are ValueErrors
        return await reports_page(request, who, contract, period, error=str(exc), status_code=422)
    try:
        receipt = await AssessmentClient.of(complaints_of(request)).import_survey(contract, period, batch)
    except CxSlaError as exc:
        return await reports_page(request, who, contract, period, error=str(exc), status_code=refused_status(exc))
    said = "already imported, nothing changed" if receipt.duplicate else "added"
    target = urlencode({"contract": contract, "period": period,
                        "message": f"batch {receipt.batch_id}: {said} ({batch.responses} answers)"})
    return RedirectResponse(f"/ui/reports?{target}", status_code=303)
