"""The archive on a real PostgreSQL (started here on a free port in a temporary directory): the store tests of
tests/starter/test_archive.py that take `new_store` or `store` run again on it (migrations from empty and from the
previous revision, idempotent writes, the audit trail, filters and export, the SQL tally), plus a pg_dump holding no
personal data and `verify` naming an entry changed by SQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg
import pytest

from activities.archive_store import ArchiveStore
from tests.helpers.archive import T0, archived
from tests.helpers.postgres import Postgres, postgres, unavailable
from tests.starter.test_archive import (
    CONTACT,
    KEYRING,
    NAME,
    store,
    withdrawn_log,
)
from tests.starter.test_archive import (
    test_archiving_twice_keeps_one_record as test_archiving_twice_keeps_one_record_on_postgres,
)
from tests.starter.test_archive import (
    test_list_filters_and_export_personal_fields_only_when_asked as test_list_and_export_on_postgres,
)
from tests.starter.test_archive import (
    test_migrates_from_empty_and_is_idempotent as test_migrates_from_empty_on_postgres,
)
from tests.starter.test_archive import (
    test_show_reads_the_audit_trail_back as test_show_reads_the_audit_trail_back_on_postgres,
)
from tests.starter.test_archive import (
    test_the_sql_tally_is_the_tally_of_the_same_outcomes as test_the_sql_tally_on_postgres,
)
from tests.starter.test_archive import (
    test_upgrade_from_the_previous_revision_backfills_the_kpi_facts as test_upgrade_from_0001_on_postgres,
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")]
__all__ = ["store",  # the fixture, on this module's new_store
           "test_archiving_twice_keeps_one_record_on_postgres", "test_list_and_export_on_postgres",
           "test_migrates_from_empty_on_postgres", "test_show_reads_the_audit_trail_back_on_postgres",
           "test_the_sql_tally_on_postgres", "test_upgrade_from_0001_on_postgres"]
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    with postgres() as running:
        yield running


@pytest.fixture
def new_store(server: Postgres) -> Iterator[Callable[[str], ArchiveStore]]:
    """Each store a database of its own on the module's server."""
    made: list[ArchiveStore] = []

    def make(name: str) -> ArchiveStore:
        made.append(ArchiveStore(server.create_database(f"{name}_{uuid.uuid4().hex[:8]}"), KEYRING))
        return made[-1]

    yield make
    for s in made:
        s.dispose()


def test_a_dump_of_the_database_holds_no_personal_data(store: ArchiveStore, server: Postgres):
    store.save_complaint(archived(withdrawn_log("P-1"), T0 + 5 * H))
    dump = server.dump(store.engine.url.database or "")
    assert "P-1" in dump and "withdrawn" in dump  # the dump is readable: the test would see plaintext
    for secret in (NAME, CONTACT, "C-7", "my order", "customer withdrew", "parts on order"):
        assert secret not in dump, secret


def test_verify_names_an_entry_changed_by_sql(store: ArchiveStore, server: Postgres):
    store.save_complaint(archived(withdrawn_log("P-2"), T0 + 5 * H))
    with psycopg.connect(f"host=127.0.0.1 port={server.port} user=cxsla dbname={store.engine.url.database}") as db:
        db.execute("""UPDATE complaint_events SET "by" = 'mallory' WHERE complaint_id = 'P-2' AND seq = 3""")
    checked, problems = store.verify("P-2")
    assert checked == 1 and [(p.seq, p.event_type) for p in problems] == [(3, "extended")]
