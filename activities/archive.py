"""The archiving activities: a finished complaint, plan, cycle or outage written to the archive database.

Idempotent: each write replaces what the same workflow run chain (id and first run id) wrote before, so a retried
activity or a workflow replayed on another worker leaves one record. The store, or a function opening it on first
use, comes from the plugin (CxSlaPlugin(archive=...), else the environment's settings).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

from temporalio import activity

from activities.archive_store import ArchiveStore
from sla.archive import ArchiveComplaint, ArchiveRecord


class ArchiveActivities:
    def __init__(self, store: ArchiveStore | Callable[[], ArchiveStore]) -> None:
        self._store = store

    @property
    def store(self) -> ArchiveStore:
        if not isinstance(self._store, ArchiveStore):
            self._store = self._store()
        return self._store

    @activity.defn(name="cxsla.archive_complaint")
    async def archive_complaint(self, item: ArchiveComplaint) -> bool:
        return await asyncio.to_thread(self.store.save_complaint, item)

    @activity.defn(name="cxsla.archive_record")
    async def archive_record(self, item: ArchiveRecord) -> None:
        """A cycle's record also names, per breach class, the archived complaints of its period behind the count."""
        await asyncio.to_thread(self._save_record, item)

    def _save_record(self, item: ArchiveRecord) -> None:
        if item.kind == "cycle":
            assessment = item.document.get("assessment") or {}
            if assessment.get("start") and assessment.get("end"):
                start, end = (datetime.fromisoformat(assessment[k]) for k in ("start", "end"))
                item.document["breach_complaints"] = self.store.breach_ids(item.contract, start, end)
        self.store.save_record(item, datetime.now(timezone.utc))
