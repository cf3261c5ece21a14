"""CxSlaPlugin: add cx-sla to an existing Temporal client and worker in one line."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.plugin import SimplePlugin

from activities.evaluation import evaluate_complaint
from activities.log_context import LogContextInterceptor
from activities.notifications import LogSink, NotificationActivities, NotificationSink
from workflows.complaint import ComplaintWorkflow

WORKFLOWS: list[type] = [ComplaintWorkflow]


class CxSlaPlugin(SimplePlugin):
    """Workflows, activities and the pydantic data converter of cx-sla.

    A plugin given to a worker replaces the cx-sla activities that a plugin on its client already added, so a
    worker can use its own notification sink.

    Args:
        sink: where notifications go (structured log by default, or a `WebhookSink`).
        codec: a payload codec (e.g. `starter.codec.EncryptionCodec`) applied to every payload; failure
            messages are then carried as encoded attributes too, so nothing a handler echoes stays in plain text.
    """

    def __init__(self, *, sink: NotificationSink | None = None, codec: PayloadCodec | None = None) -> None:
        notifications = NotificationActivities(sink or LogSink())
        ours = [evaluate_complaint, notifications.notify, notifications.send_survey]
        super().__init__(
            "cxsla.CxSlaPlugin",
            data_converter=data_converter(codec),
            workflows=_replacing(WORKFLOWS, _workflow_name),
            activities=_replacing(ours, _activity_name),
            interceptors=[LogContextInterceptor()],
        )


def data_converter(codec: PayloadCodec | None = None) -> DataConverter:
    """The pydantic data converter, with `codec` on every payload when given."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter, payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def _activity_name(fn: Callable) -> str | None:
    defn = activity._Definition.from_callable(fn)
    return defn.name if defn else None


def _workflow_name(cls: type) -> str | None:
    return getattr(getattr(cls, "__temporal_workflow_definition", None), "name", None)


def _replacing(ours: Sequence, name_of: Callable) -> Callable[[Sequence | None], list]:
    names = {name_of(item) for item in ours}

    def merge(existing: Sequence | None) -> list:
        return [item for item in existing or [] if name_of(item) not in names] + list(ours)

    return merge
