"""CxSlaPlugin: add cx-sla to an existing Temporal client and worker in one line."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.plugin import SimplePlugin

from activities.archive import ArchiveActivities
from activities.archive_store import ArchiveStore
from activities.assessment import AssessmentActivities, SourceFactory
from activities.calendars import resolve_calendar
from activities.evaluation import (
    current_period,
    evaluate_complaint,
    evaluate_improvement_plan,
    evaluate_service_interruption,
    plan_cycle,
)
from activities.log_context import LogContextInterceptor
from activities.notifications import LogSink, NotificationActivities, NotificationSink
from activities.reports import ReportActivities, report_attachments
from starter.service.archive import default_archive
from workflows.complaint import ComplaintWorkflow
from workflows.cycle import AssessmentCycleWorkflow, ScheduledCycleWorkflow
from workflows.interruption import ServiceInterruptionWorkflow
from workflows.plan import ImprovementPlanWorkflow

WORKFLOWS: list[type] = [
    ComplaintWorkflow, AssessmentCycleWorkflow, ScheduledCycleWorkflow, ImprovementPlanWorkflow,
    ServiceInterruptionWorkflow,
]
DEFAULT_REPORT_DIR = ".data/reports"
class CxSlaPlugin(SimplePlugin):
    """Workflows, activities and the pydantic data converter of cx-sla.

    A plugin given to a worker replaces the cx-sla activities that a plugin on its client already added, so a
    worker can use its own notification sink.

    Args:
        sink: where notifications go (structured log by default, or a `WebhookSink`).
        codec: a payload codec (e.g. `starter.service.codec.EncryptionCodec`) applied to every payload; failure
            messages are then carried as encoded attributes too, so nothing a handler echoes stays in plain text.
        policy_path: the policy file whose assessment settings scheduled cycles and complaint-opened plans take
            (the shipped default when None); complaints and cycles started by a client carry their own.
        report_dir: where assessment reports are written (json, md, html per cycle).
        memo_source: where cycles read complaint and interruption memos (Temporal visibility by default).
        archive: the archive store finished complaints, plans, cycles and outages are written to, and cycles read
            (`activities.archive_store.ArchiveStore`; the one CXSLA_ARCHIVE_URL names when None).
    """

    def __init__(
        self, *, sink: NotificationSink | None = None, codec: PayloadCodec | None = None,
        policy_path: str | None = None, report_dir: str | None = None, memo_source: SourceFactory | None = None,
        archive: ArchiveStore | None = None,
    ) -> None:
        notifications = NotificationActivities(sink or LogSink(), attach=report_attachments)
        archiving = ArchiveActivities(archive or default_archive)
        assessment = AssessmentActivities(policy_path=policy_path, source=memo_source,
                                          archive=lambda: archiving.store)
        reports = ReportActivities(report_dir or DEFAULT_REPORT_DIR,
                                   archive=(lambda: archiving.store) if memo_source is None else None)
        ours = [
            notifications.deliver, resolve_calendar,
            assessment.collect_and_assess, assessment.inform_plans, assessment.open_plan_for_complaint,
            assessment.open_plans_for_feedback, assessment.launch_settings, reports.write_report,
            archiving.archive_complaint, archiving.archive_record,
            # What runs recorded by earlier releases still call (workflows/legacy/).
            evaluate_complaint, evaluate_improvement_plan, evaluate_service_interruption, plan_cycle, current_period,
            notifications.notify, notifications.notify_notice, notifications.send_survey, assessment.assessment_policy,
        ]
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
