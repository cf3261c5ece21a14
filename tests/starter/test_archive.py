"""The archive store on SQLite: migrations from empty and from the previous revision, idempotent writes, no
personal data in the file, the audit trail read back, the hash chain naming a changed entry, and the SQL tally equal
to folding the same outcomes one by one. tests/system/test_archive_postgres.py runs the tests that take `new_store` or
`store` on PostgreSQL too."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from activities.archive_store import ArchiveStore, Filters, complaint_events, complaints
from sla import events as ev
from sla.kpi import PeriodTally
from sla.vocabulary import BreachClass
from starter.service.codec import Keyring, new_key_line
from tests.helpers.archive import T0, archived, random_log

NAME, CONTACT = "Zhang Wei", "+86 138 0000 0000"
H = timedelta(hours=1)


KEYRING = Keyring.parse(new_key_line("k1"))


@pytest.fixture
def new_store(tmp_path: Path) -> Iterator[Callable[[str], ArchiveStore]]:
    """A factory of empty, unmigrated databases (tests/system/test_archive_postgres.py: on PostgreSQL)."""
    made: list[ArchiveStore] = []

    def make(name: str) -> ArchiveStore:
        made.append(ArchiveStore(f"sqlite:///{tmp_path}/{name}.sqlite", KEYRING))
        return made[-1]

    yield make
    for s in made:
        s.dispose()


@pytest.fixture
def store(new_store: Callable[[str], ArchiveStore]) -> ArchiveStore:
    s = new_store("archive")
    s.migrate()
    return s


def withdrawn_log(cid: str = "A-1") -> list:
    return [
        ev.Received(at=T0, complaint_id=cid, contract="a", severity="normal", customer_id="C-7",
                    customer_name=NAME, customer_contact=CONTACT, summary="my order"),
        ev.Acknowledged(at=T0 + H, by="amy"),
        ev.Reclassified(at=T0 + 2 * H, by="sam", severity="major", reason="outage related"),
        ev.Extended(at=T0 + 3 * H, by="sam", clock="resolve", until=T0 + 40 * H, reason="parts on order"),
        ev.Withdrawn(at=T0 + 4 * H, by="sam", reason="customer withdrew"),
    ]


def test_migrates_from_empty_and_is_idempotent(new_store: Callable[[str], ArchiveStore]):
    s = new_store("fresh")
    assert s.revision() is None
    assert s.migrate() == s.head() == "0002"
    assert s.migrate() == "0002"
    assert set(sa.inspect(s.engine).get_table_names()) >= {"complaints", "complaint_events", "complaint_clocks",
                                                            "records", "alembic_version"}


def test_upgrade_from_the_previous_revision_backfills_the_kpi_facts(new_store: Callable[[str], ArchiveStore]):
    s = new_store("old")
    assert s.migrate("0001") == "0001"
    rng = random.Random(3)
    items = [archived(*random_log(rng, f"O-{n}", T0 + n * H)) for n in range(30)]
    old_columns = {c.name for c in sa.Table("complaints", sa.MetaData(), autoload_with=s.engine).columns}
    old = sa.Table("complaints", sa.MetaData(), *(c._copy() for c in complaints.columns if c.name in old_columns))
    with s.engine.begin() as connection:  # written as a release at revision 0001 wrote them
        for item in items:
            row, events, _ = s.rows(item)
            connection.execute(old.insert(), [{k: v for k, v in row.items() if k in old_columns}])
            connection.execute(complaint_events.insert(), events)
    assert s.migrate() == "0002"
    expected = PeriodTally.of((item.outcome for item in items), decided_by=T0 + 100 * H)
    assert s.tally("a", T0, T0 + 100 * H) == expected
    assert s.verify() == (30, [])


def test_archiving_twice_keeps_one_record(store: ArchiveStore):
    item = archived(withdrawn_log(), T0 + 5 * H)
    assert store.save_complaint(item) and store.save_complaint(item)
    with store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(complaints)).scalar() == 1
    assert store.verify() == (1, [])
    snapshot = item.model_copy(update={"snapshot": True})
    assert store.save_complaint(snapshot) is False  # a late snapshot never replaces the final record


def test_no_personal_data_in_the_database_file(store: ArchiveStore, tmp_path: Path):
    store.save_complaint(archived(withdrawn_log(), T0 + 5 * H))
    store.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("archive.sqlite*"))
    assert b"A-1" in raw and b"withdrawn" in raw  # the file is readable: the test would see plaintext
    for secret in (NAME, CONTACT, "C-7", "my order", "customer withdrew", "parts on order"):
        assert secret.encode() not in raw, secret


def test_show_reads_the_audit_trail_back(store: ArchiveStore):
    item = archived(withdrawn_log(), T0 + 5 * H)
    store.save_complaint(item)
    shown = store.status("A-1")
    assert shown is not None
    assert shown["timeline"] == item.status.public()["timeline"]
    assert {k: shown[k] for k in ("state", "severity", "breaches", "clocks")} == {
        k: item.status.public()[k] for k in ("state", "severity", "breaches", "clocks")}
    reclassified, extended, withdrawn = shown["timeline"][2:]
    assert (reclassified["by"], reclassified["from_severity"], reclassified["severity"], reclassified["reason"]) == (
        "sam", "normal", "major", "outage related")
    assert (extended["clock"], extended["until"], extended["reason"]) == (
        "resolve", "2026-01-06T16:00:00Z", "parts on order")
    assert withdrawn["reason"] == "customer withdrew"
    assert NAME not in str(shown) and CONTACT not in str(shown)


def test_list_filters_and_export_personal_fields_only_when_asked(store: ArchiveStore):
    rng = random.Random(5)
    items = [archived(*random_log(rng, f"L-{n:02}", T0 + n * H)) for n in range(40)]
    store.save_complaints(items)
    everything = store.summaries(Filters(), limit=100)
    assert len(everything) == 40 and everything[0]["id"] == "L-39"
    majors = store.summaries(Filters(severity="major"), limit=100)
    assert majors and all(c["severity"] == "major" for c in majors)
    window = store.summaries(Filters(received_from=T0 + 10 * H, received_to=T0 + 20 * H), limit=100)
    assert sorted(c["id"] for c in window) == [f"L-{n:02}" for n in range(10, 20)]
    page = store.summaries(Filters(), limit=15)
    rest = store.summaries(Filters(), limit=100, after=(T0 + 25 * H, page[-1]["id"]))
    assert [c["id"] for c in page + rest] == [c["id"] for c in everything]
    billing = store.summaries(Filters(category="billing"), limit=100)
    assert billing and all(c["category"] == "billing" for c in billing)
    by_customer: dict[str, list[str]] = {}
    for item in items:
        received = item.events[0]
        assert isinstance(received, ev.Received) and received.customer_id is not None
        by_customer.setdefault(received.customer_id, []).append(item.complaint_id)
    customer, ids = max(by_customer.items(), key=lambda pair: len(pair[1]))
    assert len(ids) > 1  # the blind index finds every one of a customer's complaints, and only those
    assert sorted(c["id"] for c in store.summaries(Filters(customer_id=customer), limit=100)) == sorted(ids)
    plain = list(store.export(Filters(received_to=T0 + 5 * H), personal=False))
    assert [r["id"] for r in plain] == [f"L-{n:02}" for n in range(5)]
    assert "customer_name" not in plain[0] and NAME not in str(plain)
    full = list(store.export(Filters(received_to=T0 + 5 * H), personal=True))
    assert {r["customer_name"] for r in full} == {NAME} and {r["customer_contact"] for r in full} == {CONTACT}
    assert [r["customer_id"] for r in plain] == [i.events[0].customer_id for i in items[:5]]  # type: ignore[union-attr]


def test_verify_names_an_entry_changed_in_the_database(store: ArchiveStore, tmp_path: Path):
    store.save_complaint(archived(withdrawn_log("V-1"), T0 + 5 * H))
    store.save_complaint(archived(withdrawn_log("V-2"), T0 + 5 * H))
    store.save_complaint(archived(withdrawn_log("V-3"), T0 + 5 * H))
    store.dispose()
    with sqlite3.connect(tmp_path / "archive.sqlite") as db:  # an edit made behind the application's back
        db.execute("""UPDATE complaint_events SET details = json_set(details, '$.severity', 'low')
                      WHERE complaint_id = 'V-2' AND seq = 2""")
    checked, problems = store.verify()
    assert checked == 3 and [(p.complaint_id, p.seq, p.event_type) for p in problems] == [("V-2", 2, "reclassified")]
    assert "entry 2 (reclassified)" in problems[0].describe()
    with sqlite3.connect(tmp_path / "archive.sqlite") as db:  # so does a sealed field overwritten
        db.execute("UPDATE complaint_events SET sealed = 'k1:not base64!' WHERE complaint_id = 'V-3' AND seq = 3")
    assert [(p.seq, p.event_type) for p in store.verify("V-3")[1]] == [(3, "extended")]
    with sqlite3.connect(tmp_path / "archive.sqlite") as db:  # dropping the last entry shows too
        db.execute("DELETE FROM complaint_events WHERE complaint_id = 'V-1' AND seq = 4")
    assert [(p.complaint_id, p.seq) for p in store.verify("V-1")[1]] == [("V-1", 4)]


def test_the_sql_tally_is_the_tally_of_the_same_outcomes(store: ArchiveStore):
    rng = random.Random(11)
    items = [archived(*random_log(rng, f"T-{n}", T0 + n * H)) for n in range(200)]
    store.save_complaints(items)
    start, end = T0 + 30 * H, T0 + 170 * H
    inside = [i.outcome for i in items if start <= i.outcome.received_at < end]
    tally = store.tally("a", start, end)
    assert tally == PeriodTally.of(inside, decided_by=end)
    assert tally.inquiries and tally.at_fault and tally.decided < tally.complaints - tally.withdrawn  # all exercised
    assert store.tally("other", start, end) == PeriodTally(decided_by=end)
    ids = store.breach_ids("a", start, end)
    assert ids["major"] == sorted(i.complaint_id for i in items
                                  if start <= i.outcome.received_at < end and i.outcome.breaches.get(BreachClass.MAJOR))
