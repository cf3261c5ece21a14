"""Finished plans, cycles and outages go to the archive (activities/archive.py) before their workflow completes, so
Temporal's retention can delete them without losing the record."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive import ArchiveActivities
    from sla.archive import ArchiveRecord

# The archive may be down for a while (a database restart, a migration): the workflow waits, retrying, and
# completes only once its record is there.
ARCHIVE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=10))


async def archive_record(kind: str, record_id: str, contract: str, document: BaseModel) -> None:
    item = ArchiveRecord(kind=kind, record_id=record_id, first_run_id=workflow.info().first_execution_run_id,
                         contract=contract, finished_at=workflow.now(), document=document.model_dump(mode="json"))
    await workflow.execute_activity_method(ArchiveActivities.archive_record, item,
                                           start_to_close_timeout=timedelta(minutes=1), retry_policy=ARCHIVE_RETRY)
