"""structlog JSON logs for every process; stdlib loggers (the SDK's, workflow.logger, the Rust core's forwarded
lines) go through it too.

Every line that concerns a complaint carries `complaint_id`, `workflow_id` and `run_id`; activity lines also
`activity_type`, `activity_id` and `attempt`. They come from the SDK loggers' `extra` (workflow.logger,
activity.logger) and from contextvars bound around each activity (`activities.log_context`). Personal data never
reaches a log line: known personal or free-text fields are dropped, and tracebacks carry no local variables.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
import temporalio.activity
import temporalio.workflow

from sla.names import complaint_id_of

# Fields that can hold personal data or free text typed by people (which may quote it): never logged.
PERSONAL_FIELDS = frozenset({
    "customer_id", "customer_name", "customer_contact", "contact", "email", "phone", "name", "summary", "comment",
    "note", "reason", "resolution", "plan", "text", "body",
})

_WORKFLOW_FIELDS = {"workflow_id": "workflow_id", "run_id": "run_id", "workflow_type": "workflow_type",
                    "task_queue": "task_queue", "namespace": "namespace", "attempt": "workflow_task_attempt",
                    "update_id": "update_id", "update_name": "update_name"}
_ACTIVITY_FIELDS = {"activity_id": "activity_id", "activity_type": "activity_type", "attempt": "attempt",
                    "workflow_id": "workflow_id", "workflow_run_id": "run_id", "workflow_type": "workflow_type",
                    "task_queue": "task_queue", "namespace": "namespace"}


def temporal_context(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Flatten the SDK loggers' `temporal_workflow` / `temporal_activity` extras into top-level fields."""
    for key, names in (("temporal_workflow", _WORKFLOW_FIELDS), ("temporal_activity", _ACTIVITY_FIELDS)):
        details = event.pop(key, None)
        if isinstance(details, dict):
            for source, target in names.items():
                if source in details:
                    event.setdefault(target, details[source])
    for private in [k for k in event if k.startswith("__temporal")]:
        del event[private]
    complaint = complaint_id_of(event.get("workflow_id"))
    if complaint is not None:
        event.setdefault("complaint_id", complaint)
    return event


def drop_personal_data(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in PERSONAL_FIELDS.intersection(event):
        del event[key]
    return event


def configure_logging(level: str = "INFO", *, stream=None) -> None:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, temporal_context, drop_personal_data,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), temporal_context, drop_personal_data],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Locals in a traceback could hold a customer's data: frames and messages only.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False, use_rich=False)
            ),
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces its plugins at INFO on import; the worker logs the archive's revision itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The ids travel as JSON fields; the SDK would otherwise append a dict of them to every message.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
