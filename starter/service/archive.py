"""The archive the settings name (CXSLA_ARCHIVE_URL), sealed with the payload codec's keys: what the worker, the CLI
and the API open (the store itself is activities/archive_store.py, below the service layer)."""

from __future__ import annotations

from activities.archive_store import ArchiveStore, store_for
from starter.service.codec import load_keyring
from starter.service.settings import Settings


def archive_of(settings: Settings) -> ArchiveStore:
    return store_for(settings.archive_url, load_keyring(settings))


def default_archive() -> ArchiveStore:
    """The archive of the environment's settings, opened when first needed (CxSlaPlugin without `archive`)."""
    return archive_of(Settings())
