"""Every error of the API is an RFC 9457 problem document (`application/problem+json`) with a detail a person
can act on; validation problems name each offending field and never echo the value sent (it may be personal)."""

from __future__ import annotations

import http
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from starter.client.errors import CxSlaError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:cxsla:problem:"
STATUS_OF_KIND = {"invalid": 422, "not_found": 404, "conflict": 409, "unavailable": 503}
FIELD_HINTS = {"by": "set from your token's identity; do not send it"}

log = structlog.get_logger("cxsla.api")


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` lists the fields a validation problem is about."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self, status: int, kind: str, detail: str, *, errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.errors, self.headers = status, kind, detail, errors, headers


def problem_response(
    request: Request, status: int, kind: str | None, detail: str, *, errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return problem_document(status, kind, detail, request.url.path, errors=errors, headers=headers)


def problem_document(
    status: int, kind: str | None, detail: str, instance: str | None, *, errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=TYPE_PREFIX + kind if kind else "about:blank", title=http.HTTPStatus(status).phrase, status=status,
        detail=detail, instance=instance, errors=errors,
    )
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON,
                        headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def field_problems(errors: list[dict[str, Any]]) -> list[FieldProblem]:
    problems = []
    for error in errors:
        field = _field(tuple(error.get("loc", ())))
        if error.get("type") == "json_invalid":
            message = f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
            field = "body"
        elif error.get("type") == "extra_forbidden":
            message = FIELD_HINTS.get(field, "not a field of this request")
        else:
            message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(FieldProblem(field=field, message=message))
    return problems


def summary(problems: list[FieldProblem]) -> str:
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


def install(app: FastAPI) -> None:
    """Problem documents for refusals, validation errors, unknown routes and anything unexpected."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(request, exc.status, exc.kind, exc.detail, errors=exc.errors, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = field_problems(list(exc.errors()))
        if any(error.get("type") == "json_invalid" for error in exc.errors()):  # unreadable, not invalid
            return problem_response(request, 400, "invalid-json", summary(problems), errors=problems)
        return problem_response(request, 422, "validation-error", summary(problems), errors=problems)

    @app.exception_handler(CxSlaError)
    async def _refused(request: Request, exc: CxSlaError) -> JSONResponse:
        status = STATUS_OF_KIND.get(exc.kind, 422)
        kind = {"invalid": "invalid-request", "not_found": "not-found", "conflict": "invalid-transition",
                "unavailable": "unavailable"}[exc.kind]
        return problem_response(request, status, kind, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else http.HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the body could not be read as JSON (is it UTF-8 encoded?)"
        if exc.status_code == 405:
            detail = f"{request.method} is not supported on {request.url.path}"
        return problem_response(request, exc.status_code, None, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", path=request.url.path, method=request.method)
        return problem_response(request, 500, "internal", "unexpected error; it has been logged")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problems a route may answer with (the content type is fixed up in
    `as_problem_json`)."""
    return {status: {"model": Problem, "description": http.HTTPStatus(status).phrase} for status in statuses}


def as_problem_json(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare error responses as application/problem+json, the media type they are sent with; every route that
    takes a body may also answer 400 (unreadable JSON), 413 and 415 (starter.api.edge)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if "requestBody" in operation:
                for status in (400, 413, 415):
                    operation.setdefault("responses", {}).setdefault(str(status), {
                        "description": http.HTTPStatus(status).phrase,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return schema


_QUERY_NAMES: dict[int, frozenset[str]] = {}


async def known_query_only(request: Request) -> None:
    """Refuse query parameters a route does not declare (a typo like `?breach=true` must not silently list
    everything)."""
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    allowed = _QUERY_NAMES.get(id(route))
    if allowed is None:
        allowed = _QUERY_NAMES[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ProblemError(422, "validation-error", f"unknown query parameter(s) {shown}; this route takes "
                                                    f"{', '.join(sorted(allowed)) or 'none'}")


def _query_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
