"""The customer's survey page: `GET /survey/{token}` shows a plain HTML form, `POST /survey/{token}` records the
answer as the complaint's feedback (000 §3.2a). No script, no style sheet from elsewhere, no cookie: the signed
token in the path (sla/survey_link.py) is the only credential, so a third site has nothing to forge a request
with. It works once per resolution: the answer closes the complaint, and a link made for an earlier resolution
(the complaint was reopened since) is refused.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from sla.commands import RecordFeedback
from sla.errors import plain
from sla.status import ComplaintStatus
from sla.survey_link import LinkError, SurveyClaims, read_link
from sla.vocabulary import ClockName, ComplaintState
from starter.client.errors import CxSlaError

router = APIRouter(include_in_schema=False)
BY = "customer:survey-link"
MAX_FORM_BYTES = 16_384
STYLE = ("body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
         "fieldset{border:1px solid #ccc;margin:0 0 1rem;padding:.5rem 1rem}label{margin-right:.8rem}"
         "textarea{width:100%}button{font-size:1rem;padding:.4rem 1.2rem}.error{color:#b00020}")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            "</body></html>")
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store",
                                                           "Content-Security-Policy": "default-src 'none'; "
                                                           "style-src 'unsafe-inline'; form-action 'self'"})


def _notice(title: str, sentence: str, status: int) -> HTMLResponse:
    return _page(title, f"<p>{escape(sentence)}</p>", status)


def _scale(name: str, low: int, high: int, question: str, required: bool) -> str:
    choices = "".join(f'<label><input type="radio" name="{name}" value="{n}"{" required" if required else ""}> '
                      f"{n}</label>" for n in range(low, high + 1))
    return f"<fieldset><legend>{escape(question)}</legend>{choices}</fieldset>"


def _form(claims: SurveyClaims, error: str | None = None, status: int = 200) -> HTMLResponse:
    problem = f'<p class="error">{escape(error)}</p>' if error else ""
    body = (f"<p>Complaint {escape(claims.complaint_id)}: please tell us how we handled it.</p>{problem}"
            '<form method="post">'
            + _scale("csat", 1, 5, "How satisfied are you with how we handled your complaint? (1 very dissatisfied, "
                                   "5 very satisfied)", True)
            + _scale("nps", 0, 10, "How likely are you to recommend us? (0 not at all, 10 extremely; optional)", False)
            + _scale("ces", 1, 7, "How easy was it to get your complaint handled? (1 very hard, 7 very easy; "
                                  "optional)", False)
            + '<p><label for="comment">Anything else? (optional)</label><br>'
            '<textarea id="comment" name="comment" rows="4" maxlength="4000"></textarea></p>'
            '<p><button type="submit">Send</button></p></form>')
    return _page("Your opinion", body, status)


def _claims(request: Request, token: str) -> SurveyClaims | HTMLResponse:
    secret = request.app.state.settings.survey_secret
    if secret is None:
        return _notice("Not found", "There is no survey here.", 404)
    try:
        return read_link(secret.get_secret_value().encode(), token, datetime.now(timezone.utc))
    except LinkError as exc:
        return _notice("Survey link", str(exc), 410 if "expired" in str(exc) else 400)


async def _open_for_answers(request: Request, claims: SurveyClaims) -> HTMLResponse | None:
    """None when the complaint still waits for this resolution's answer; else the page that says why not."""
    try:
        status: ComplaintStatus = await request.app.state.complaints.status(claims.complaint_id)
    except CxSlaError as exc:
        if exc.kind == "not_found":
            return _notice("Survey", "This complaint's survey is closed.", 410)
        return _notice("Survey", "The survey cannot be reached just now; please try again later.", 503)
    surveys = [c.instance for c in status.clocks if c.name is ClockName.SURVEY]
    if status.state is not ComplaintState.RESOLVED or not surveys or max(surveys) != claims.instance:
        return _notice("Survey", "This survey has been answered already or is closed. Thank you.", 409)
    return None


@router.get("/survey/{token}", response_class=HTMLResponse)
async def survey_page(request: Request, token: str) -> HTMLResponse:
    claims = _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    return await _open_for_answers(request, claims) or _form(claims)


@router.post("/survey/{token}", response_class=HTMLResponse)
async def survey_answer(request: Request, token: str) -> HTMLResponse:
    claims = _claims(request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return _form(claims, "The answer is too long.", 413)
    fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=False).items()}
    try:
        answer = RecordFeedback(by=BY, csat=fields.get("csat"), nps=fields.get("nps") or None,
                                ces=fields.get("ces") or None, comment=fields.get("comment") or None)
    except ValidationError as exc:
        return _form(claims, plain(exc), 422)
    closed = await _open_for_answers(request, claims)
    if closed is not None:
        return closed
    try:
        await request.app.state.complaints.command(claims.complaint_id, "record_feedback", answer)
    except CxSlaError as exc:
        if exc.kind in ("conflict", "not_found"):
            return _notice("Survey", "This survey has been answered already or is closed. Thank you.", 409)
        if exc.kind == "invalid":
            return _form(claims, str(exc), 422)
        return _notice("Survey", "Your answer could not be recorded just now; please try again later.", 503)
    return _notice("Thank you", "Your answer has been recorded. Thank you for your time.", 200)
