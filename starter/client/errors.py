"""The facade's one error, and the one place Temporal's refusals become it.

Refusals are told apart by their gRPC status code and structured details, never by message text: a missing
namespace and a missing workflow are both NOT_FOUND, but only the second means "no such complaint"; the first is
a configuration error the person who sent the request cannot fix by changing it.
"""

from __future__ import annotations

from typing import Literal

from temporalio.api.enums.v1 import EventType
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure
from temporalio.client import WorkflowHandle, WorkflowHistoryEventFilterType, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

ErrorKind = Literal["invalid", "not_found", "conflict", "unavailable"]


class CxSlaError(Exception):
    """A request refused with a message for the person who sent it.

    `kind` says why, for callers that map refusals (the HTTP API: 422, 404, 409, 503): `invalid` input,
    `not_found` complaint, `conflict` with the complaint's state, or Temporal `unavailable` (unreachable, or not
    configured for us: a missing namespace, refused credentials).
    """

    def __init__(self, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


# What each status means to the person asking; a status not listed is their request's fault (`invalid`).
KIND_OF_STATUS: dict[RPCStatusCode, ErrorKind] = {
    RPCStatusCode.NOT_FOUND: "not_found",
    RPCStatusCode.ALREADY_EXISTS: "conflict",
    RPCStatusCode.FAILED_PRECONDITION: "conflict",
    RPCStatusCode.ABORTED: "conflict",
    RPCStatusCode.UNAVAILABLE: "unavailable",
    RPCStatusCode.DEADLINE_EXCEEDED: "unavailable",
    RPCStatusCode.RESOURCE_EXHAUSTED: "unavailable",
    RPCStatusCode.UNAUTHENTICATED: "unavailable",
    RPCStatusCode.PERMISSION_DENIED: "unavailable",
    RPCStatusCode.INTERNAL: "unavailable",
    RPCStatusCode.UNKNOWN: "unavailable",
}


def unreachable(address: str, namespace: str, exc: Exception) -> CxSlaError:
    """A connection that failed: settings that cannot work (a codec key, TLS files) or a server not answering."""
    return CxSlaError(f"cannot connect to Temporal at {address} (namespace {namespace}): {exc}", "unavailable")


def missing_namespace(exc: RPCError) -> str | None:
    """The namespace a NOT_FOUND says does not exist, or None when something else was not found."""
    if exc.status != RPCStatusCode.NOT_FOUND:
        return None
    for detail in exc.grpc_status.details:
        failure = NamespaceNotFoundFailure()
        if detail.Unpack(failure):
            return failure.namespace
    return None


def rpc_error(exc: RPCError, subject: str) -> CxSlaError:
    """`exc` as the facade's error; `subject` ("complaint T-1", "cannot list plans") starts the message."""
    namespace = missing_namespace(exc)
    if namespace is not None:
        return CxSlaError(f"{subject}: Temporal namespace {namespace!r} does not exist; set TEMPORAL_NAMESPACE "
                          f"(--namespace) to an existing namespace or create it", "unavailable")
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return CxSlaError(f"{subject}: cannot connect to Temporal ({exc.message})", "unavailable")
    if exc.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        return CxSlaError(f"{subject}: Temporal refused our credentials ({exc.message}); check TEMPORAL_API_KEY "
                          f"or the TLS client certificate", "unavailable")
    return CxSlaError(f"{subject}: {exc.message}", KIND_OF_STATUS.get(exc.status, "invalid"))


async def workflow_error(exc: RPCError, handle: WorkflowHandle, *, subject: str, missing: str) -> CxSlaError:
    """`exc` from a call on one workflow. NOT_FOUND there means no such workflow (`missing` says so), unless
    the workflow exists and has closed: servers refuse an update to a closed workflow with NOT_FOUND too."""
    if exc.status != RPCStatusCode.NOT_FOUND or missing_namespace(exc) is not None:
        return rpc_error(exc, subject)
    closed = await closed_status(handle)
    if closed is not None:
        return CxSlaError(f"{subject} is closed ({closed}) and takes no more commands", "conflict")
    return CxSlaError(missing, "not_found")


async def closed_status(handle: WorkflowHandle) -> str | None:
    """How the workflow ended (`completed`, `terminated`, ...), or None if it is running or does not exist. Read
    from its close event, not from describe, which also decodes every search attribute."""
    try:
        async for event in handle.fetch_history_events(
                event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
            name = EventType.Name(event.event_type)
            return name.removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_").lower()
    except RPCError:
        return None
    return None


def update_error(exc: WorkflowUpdateFailedError, subject: str, conflicts: frozenset[str]) -> CxSlaError:
    """A command the workflow's validator refused: `conflicts` are the ApplicationError types that mean "not in
    this state" (409) rather than bad input (422)."""
    cause = exc.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
    kind: ErrorKind = "conflict" if isinstance(cause, ApplicationError) and cause.type in conflicts else "invalid"
    return CxSlaError(f"{subject}: {message}", kind)
