"""The API's front door: a body too large (413) or of the wrong type (415) is refused before any of it is read
or parsed, and before the token is checked, so a request costs at most the limit whoever sends it."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.problems import problem_document

# Room for the largest survey import the default limits allow (10,000 answers) with plenty to spare.
MAX_BODY_BYTES = 4 * 1024 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
INBOUND_PREFIX = "/v1/inbound/"
SURVEY_PREFIX = "/survey/"  # the customer's survey page posts an HTML form
CONSOLE_PREFIX = "/ui/"  # the web console's forms (urlencoded, multipart for a survey file)


class _TooLarge(Exception):
    pass


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class EdgeLimits:
    """ASGI middleware: declared and streamed body sizes are capped, and a body must be JSON. The count covers
    a body sent without Content-Length (chunked) too: reading stops at the cap and the answer is 413 whatever
    the route would have said about a cut-off body."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            await self._refuse(scope, receive, send, 400)
            return
        if length is not None and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, 413)
            return
        has_body = (length is not None and int(length) > 0) or "chunked" in headers.get("transfer-encoding", "").lower()
        content_type = headers.get("content-type")
        # A body without a type is read as JSON; an inbound webhook is read as the desk sends it (its signature
        # covers the raw bytes, and desks label JSON in many ways), the survey page takes the customer's form, and
        # the console its users' forms.
        path = scope.get("path", "")
        checked = content_type is not None and not path.startswith((INBOUND_PREFIX, SURVEY_PREFIX, CONSOLE_PREFIX))
        if has_body and checked and not is_json(content_type):
            await self._refuse(scope, receive, send, 415)
            return
        received, over, started = 0, False, False

        async def capped() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:  # the route's answer to a body cut off at the cap is replaced by the 413 below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(scope, receive, send, 413)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        if status == 400:
            detail, kind = "Content-Length must be a number of bytes", "bad-request"
        elif status == 413:
            detail = f"the body is larger than {self.max_bytes} bytes, the most this API reads"
            kind = "too-large"
        else:
            detail = "send the body as JSON (Content-Type: application/json)"
            kind = "unsupported-media-type"
        response = problem_document(status, kind, detail, scope.get("path"))
        await response(scope, receive, send)
