"""The archive: finished complaints (with their hash-chained events), plans, cycles and outages in a SQL database.

SQLite in `.data/` by default (nothing to run), PostgreSQL in production (`CXSLA_ARCHIVE_URL=postgresql+psycopg://`).
Only the archiving activities write it, and a write replaces whatever the same complaint run (complaint id and first
run id) wrote before, so a retried activity or a replayed workflow never writes twice. Personal fields and free text
are encrypted with the payload codec's keyring before they reach the database; without an active key they are left
out, never stored in plaintext. Readers (CLI, API, cycles) answer from here once Temporal has deleted a workflow.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, Dialect, Engine

from sla import archive as arc
from sla.audit import PERSONAL, parts_of, restore
from sla.kpi import UNCATEGORISED, PeriodTally
from sla.status import timeline_of
from sla.vocabulary import ClockName, Kind

NONCE_BYTES = 12  # AES-GCM's standard nonce, as the payload codec uses

log = structlog.get_logger("cxsla.archive")
logging.getLogger("alembic").setLevel(logging.WARNING)  # the worker logs the revision it runs at itself

MIGRATIONS = Path(__file__).parent / "archive_migrations"
DEFAULT_URL = "sqlite:///.data/archive.sqlite"


class UtcDateTime(sa.TypeDecorator):
    """Instants in UTC whatever the database: SQLite keeps naive UTC text (which sorts as time does), PostgreSQL a
    timestamptz; both read back as aware UTC datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


metadata = sa.MetaData()


def _complaint_run() -> tuple[sa.Column, sa.Column]:
    """The key of one complaint run chain: a complaint id reused after retention is another record."""
    return (sa.Column("complaint_id", sa.String(200), primary_key=True),
            sa.Column("first_run_id", sa.String(64), primary_key=True))


FACT_COLUMNS: list[sa.Column] = [
    sa.Column("kind", sa.String(32)), sa.Column("at_fault", sa.Boolean), sa.Column("resolved_at", UtcDateTime),
    sa.Column("resolve_deadline", UtcDateTime),
    sa.Column("withdrawn", sa.Boolean), sa.Column("resolved", sa.Boolean), sa.Column("first_contact", sa.Boolean),
    sa.Column("reopened", sa.Boolean), sa.Column("remedy", sa.String(64)), sa.Column("handling_seconds", sa.BigInteger),
    sa.Column("first_response_business", sa.BigInteger), sa.Column("first_response_wall", sa.BigInteger),
    sa.Column("major", sa.Boolean), sa.Column("resolved_in_time", sa.Boolean), sa.Column("major_breaches", sa.Integer),
    sa.Column("minor_breaches", sa.Integer), sa.Column("csat", sa.Integer), sa.Column("nps", sa.Integer),
    sa.Column("ces", sa.Integer),
]
complaints = sa.Table(
    "complaints", metadata,
    *_complaint_run(),
    sa.Column("workflow_id", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("contract", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(32), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32)),
    sa.Column("category", sa.String(200)),
    sa.Column("customer_id", sa.String(200)),  # a blind index: "kid:" + HMAC-SHA256 of the id under that key
    sa.Column("policy_version", sa.String(200), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("archived_at", UtcDateTime, nullable=False),
    sa.Column("snapshot", sa.Boolean, nullable=False),
    sa.Column("breached", sa.Boolean, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("chain_head", sa.String(64), nullable=False),
    sa.Column("status", sa.JSON, nullable=False),
    sa.Column("outcome", sa.JSON, nullable=False),
    sa.Column("deliveries", sa.JSON, nullable=False),
    *FACT_COLUMNS,
)
complaint_events = sa.Table(
    "complaint_events", metadata,
    *_complaint_run(),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("by", sa.String(200)),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("sealed", sa.Text),
    sa.Column("hash", sa.String(64), nullable=False),
)
complaint_clocks = sa.Table(
    "complaint_clocks", metadata,
    *_complaint_run(),
    sa.Column("clock", sa.String(64), primary_key=True),
    sa.Column("met", sa.Integer, nullable=False),
    sa.Column("breached", sa.Integer, nullable=False),
)
records = sa.Table(
    "records", metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(255), primary_key=True),
    sa.Column("first_run_id", sa.String(64), primary_key=True),
    sa.Column("contract", sa.String(200), nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=False),
    sa.Column("archived_at", UtcDateTime, nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
)


class Keys(Protocol):
    """The payload codec's keys (starter.service.codec.Keyring): every listed key unseals, the active one seals."""

    @property
    def keys(self) -> Mapping[str, bytes]: ...

    @property
    def active(self) -> str | None: ...


@dataclass(frozen=True)
class NoKeys:
    keys: Mapping[str, bytes] = field(default_factory=dict)
    active: str | None = None


class ArchiveError(RuntimeError):
    """The archive cannot be used as configured (URL, migration, keys), with what to fix."""


@dataclass(frozen=True)
class Filters:
    """What `complaint list` and the export select in the archive (all optional, combined with AND)."""

    contract: str | None = None
    state: str | None = None
    severity: str | None = None
    category: str | None = None
    customer_id: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    breached: bool | None = None


@dataclass(frozen=True)
class ChainProblem:
    complaint_id: str
    first_run_id: str
    seq: int  # the first entry that no longer matches its hash (== events: entries dropped from the end)
    event_type: str | None

    def describe(self) -> str:
        what = (f"entry {self.seq} ({self.event_type}) was changed (or its sealed fields cannot be read with the "
                f"configured keys)" if self.event_type else f"entries from {self.seq} on are missing")
        return f"complaint {self.complaint_id} (first run {self.first_run_id}): {what}"


def _sqlite_path(url: str) -> Path | None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class ArchiveStore:
    """One database; `migrate()` brings its schema to the shipped head (the worker does so at start)."""

    def __init__(self, url: str = DEFAULT_URL, keyring: Keys | None = None) -> None:
        self.url = url
        self.keyring: Keys = keyring or NoKeys()
        self._ciphers = {kid: AESGCM(key) for kid, key in self.keyring.keys.items()}
        self._folder = path.parent if (path := _sqlite_path(url)) is not None else None
        try:
            self.engine: Engine = sa.create_engine(url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ArchiveError(f"CXSLA_ARCHIVE_URL: cannot use {sa.engine.make_url(url).render_as_string()}: "
                               f"{exc}") from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._migrated = False
        self._warned = False
        self._lock = threading.Lock()

    # ---- schema ---------------------------------------------------------------------------------------------
    def alembic_config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def revision(self) -> str | None:
        if self._folder is not None:  # made on first use, not by every process that could use it
            self._folder.mkdir(parents=True, exist_ok=True)
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head(self) -> str | None:
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def migrate(self, revision: str = "head") -> str | None:
        """Upgrade to `revision` (idempotent); returns the revision the database is at."""
        self.revision()  # the folder of a SQLite file
        with _ALEMBIC, self.engine.begin() as connection:  # alembic's context is process-global
            command.upgrade(self.alembic_config(connection), revision)
        self._migrated = revision == "head"
        return self.revision()

    def ensure(self) -> None:
        """Migrate once per process before the first read or write (activities run in threads at once, and
        other processes may be migrating the same database: the loser finds it migrated)."""
        if self._migrated:
            return
        with self._lock:
            if self._migrated:
                return
            try:
                if self.revision() != self.head():
                    self.migrate()
            except sa.exc.SQLAlchemyError:
                if self.revision() != self.head():
                    raise
            self._migrated = True

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- sealing -------------------------------------------------------------------------------------------
    def seal(self, values: dict[str, Any], bound_to: str) -> str | None:
        """Encrypt (AES-256-GCM under the active key, bound to the complaint id); None when there is nothing to
        seal or no active key (then the values are not archived at all)."""
        if not values or self.keyring.active is None:
            return None
        kid = self.keyring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, arc.canonical(values), f"{kid}|{bound_to}".encode())
        return f"{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def blind(self, value: str | None, kid: str | None = None) -> str | None:
        """The blind index of a customer id under `kid` (default the active key); None without a key."""
        kid = kid or self.keyring.active
        if value is None or kid is None:
            return None
        digest = hmac.new(self.keyring.keys[kid], b"customer_id|" + value.encode(), hashlib.sha256).hexdigest()
        return f"{kid}:{digest[:48]}"

    def unseal(self, text: str | None, bound_to: str) -> dict[str, Any] | None:
        """The sealed values; {} for none, None when they cannot be read (key not configured, or changed)."""
        if not text:
            return {}
        kid, _, data = text.partition(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            return None
        try:
            raw = base64.b64decode(data, validate=True)
            return json.loads(cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{kid}|{bound_to}".encode()))
        except (InvalidTag, ValueError):  # binascii.Error is a ValueError
            return None

    # ---- writing -------------------------------------------------------------------------------------------
    def save_complaint(self, item: arc.ArchiveComplaint) -> bool:
        """Write (or replace) the complaint run's archive; False when a final archive is there and `item` is only a
        snapshot (a late snapshot never replaces what the complaint archived when it ended)."""
        self.ensure()
        if self.keyring.active is None and not self._warned and any(parts_of(e)[4] for e in item.events):
            self._warned = True  # once per process: the setting, not the complaint, is what to fix
            log.warning("no active codec key: personal fields and free text are left out of the archive",
                        hint="set CXSLA_CODEC_KEYS or CXSLA_CODEC_KEY_FILE (README, Encryption)")
        key = {"complaint_id": item.complaint_id, "first_run_id": item.first_run_id}
        with self.engine.begin() as connection:
            if item.snapshot and connection.execute(
                    sa.select(complaints.c.snapshot).where(_where(complaints, key))).scalar_one_or_none() is False:
                return False
            self._replace(connection, [item])
        return True

    def save_complaints(self, items: list[arc.ArchiveComplaint]) -> None:
        """Write (or replace) many ended complaints in one transaction (a backfill, a benchmark's setup)."""
        self.ensure()
        with self.engine.begin() as connection:
            self._replace(connection, items)

    def _replace(self, connection: Connection, items: list[arc.ArchiveComplaint]) -> None:
        rows, events, clocks = [], [], []
        for item in items:
            key = {"complaint_id": item.complaint_id, "first_run_id": item.first_run_id}
            for table in (complaint_events, complaint_clocks, complaints):
                connection.execute(table.delete().where(_where(table, key)))
            row, item_events, item_clocks = self.rows(item)
            rows.append(row)
            events += item_events
            clocks += item_clocks
        connection.execute(complaints.insert(), rows)
        connection.execute(complaint_events.insert(), events)
        if clocks:
            connection.execute(complaint_clocks.insert(), clocks)

    def rows(self, item: arc.ArchiveComplaint) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """The complaint's row, its event rows (sealed, hash-chained) and its clock tallies."""
        key = {"complaint_id": item.complaint_id, "first_run_id": item.first_run_id}
        parts = [parts_of(event) for event in item.events]
        if self.keyring.active is None:  # nothing sealed is stored, so the chain covers what is
            parts = [(t, at, by, details, {}) for t, at, by, details, _ in parts]
        entries = [arc.chain_entry(t, at, by, details, sealed) for t, at, by, details, sealed in parts]
        hashes = arc.chain(entries)
        received = item.events[0]
        category = item.outcome.category or next(
            (d["category"] for _, _, _, d, _ in reversed(parts) if d.get("category")), None)
        status = item.status.public()
        status.pop("timeline", None)
        status["stale"] = [i for i, entry in enumerate(item.status.timeline) if entry.get("stale")]
        fired = item.delivery_keys()
        row = {
            **key, "workflow_id": item.workflow_id, "run_id": item.run_id, "contract": item.status.contract,
            "severity": item.status.severity.value, "state": item.status.state.value,
            "channel": getattr(received, "channel", None) and received.channel.value,  # type: ignore[union-attr]
            "category": category, "customer_id": self.blind(getattr(received, "customer_id", None)),
            "policy_version": item.status.policy_version, "received_at": received.at,
            "archived_at": item.archived_at, "snapshot": item.snapshot, "breached": item.status.breached,
            "events": len(item.events), "chain_head": hashes[-1] if hashes else arc.GENESIS, "status": status,
            "outcome": item.outcome.model_dump(mode="json"),
            "deliveries": {a: {"fired_at": at.isoformat(), "key": fired[a]} for a, at in item.fired.items()},
            **arc.outcome_facts(item.outcome),
        }
        events = [{**key, "seq": seq, "type": t, "at": event.at, "by": by, "details": details,
                   "sealed": self.seal(sealed, item.complaint_id), "hash": hashes[seq]}
                  for seq, (event, (t, _, by, details, sealed)) in enumerate(zip(item.events, parts, strict=True))]
        clocks = [{**key, "clock": clock.value, "met": tally.met, "breached": tally.breached}
                  for clock, tally in item.outcome.clocks.items()]
        return row, events, clocks

    def save_record(self, item: arc.ArchiveRecord, archived_at: datetime) -> None:
        self.ensure()
        key = {"kind": item.kind, "record_id": item.record_id, "first_run_id": item.first_run_id}
        with self.engine.begin() as connection:
            connection.execute(records.delete().where(_where(records, key)))
            connection.execute(records.insert(), [{**key, "contract": item.contract, "finished_at": item.finished_at,
                                                   "archived_at": archived_at, "document": item.document}])

    # ---- reading -------------------------------------------------------------------------------------------
    def _latest(self, complaint_id: str) -> sa.Row | None:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(complaints).where(complaints.c.complaint_id == complaint_id)
                                      .order_by(complaints.c.received_at.desc()).limit(1)).first()

    def status(self, complaint_id: str) -> dict[str, Any] | None:
        """The archived complaint as `show --json` prints it (the latest run of that id), timeline included."""
        self.ensure()
        row = self._latest(complaint_id)
        if row is None:
            return None
        document = dict(row.status)
        stale = set(document.pop("stale", []))
        entries = self._events(row.complaint_id, row.first_run_id)
        document["timeline"] = self._timeline(row.complaint_id, entries, stale)
        document["archived"] = {"at": row.archived_at.isoformat(), "first_run_id": row.first_run_id,
                                "snapshot": row.snapshot, "category": row.category}
        return document

    def _timeline(self, complaint_id: str, entries: list[sa.Row], stale: set[int]) -> list[dict[str, Any]]:
        """The timeline `show` gives, computed from the archived events as from the workflow's (sla.status); an
        event this release cannot read back is shown with its archived fields as they are."""
        sealed = [self.unseal(e.sealed, complaint_id) or {} for e in entries]
        events = [restore(e.type, e.at, e.by, e.details, s) for e, s in zip(entries, sealed, strict=True)]
        if all(event is not None for event in events):
            return timeline_of(events, stale)
        return [{"type": e.type, "at": e.at.isoformat(), "by": e.by,
                 **{k: v for k, v in e.details.items() if v is not None},
                 **{k: v for k, v in s.items() if k not in PERSONAL}} for e, s in zip(entries, sealed, strict=True)]

    def _events(self, complaint_id: str, first_run_id: str) -> list[sa.Row]:
        with self.engine.connect() as connection:
            return list(connection.execute(
                sa.select(complaint_events).where(complaint_events.c.complaint_id == complaint_id,
                                                  complaint_events.c.first_run_id == first_run_id)
                .order_by(complaint_events.c.seq)))

    def _select(self, filters: Filters) -> sa.Select:
        c = complaints.c
        conditions = [column == value for column, value in (
            (c.contract, filters.contract), (c.state, filters.state), (c.severity, filters.severity),
            (c.category, filters.category), (c.breached, filters.breached)) if value is not None]
        if filters.customer_id is not None:  # under any configured key: rows archived before a rotation match too
            conditions.append(c.customer_id.in_([self.blind(filters.customer_id, kid) for kid in self._ciphers]))
        if filters.received_from is not None:
            conditions.append(c.received_at >= filters.received_from)
        if filters.received_to is not None:
            conditions.append(c.received_at < filters.received_to)
        return sa.select(complaints).where(*conditions)

    def summaries(self, filters: Filters, *, limit: int = 100, after: tuple[datetime, str] | None = None) -> list[dict]:
        """Summaries, newest received first; `after` is the (received_at, complaint id) of the previous page's last."""
        self.ensure()
        c = complaints.c
        query = self._select(filters)
        if after is not None:
            query = query.where(sa.or_(c.received_at < after[0],
                                       sa.and_(c.received_at == after[0], c.complaint_id < after[1])))
        query = query.order_by(c.received_at.desc(), c.complaint_id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [_summary(row) for row in connection.execute(query)]

    def export(self, filters: Filters, *, personal: bool) -> Iterator[dict[str, Any]]:
        """One flat row per archived complaint (received order), with its trail; the customer's name and contact
        (and every free text) only when `personal`. Streamed: memory stays flat in the number of complaints."""
        self.ensure()
        query = self._select(filters).order_by(complaints.c.received_at, complaints.c.complaint_id)
        with self.engine.connect() as connection:
            for row in connection.execution_options(stream_results=True, yield_per=500).execute(query):
                entries = self._events(row.complaint_id, row.first_run_id)
                opened = self.unseal(entries[0].sealed, row.complaint_id) if entries else {}
                item = _summary(row) | {
                    "policy_version": row.policy_version, "channel": row.channel,
                    "customer_id": (opened or {}).get("customer_id"),
                    "breaches": row.status.get("breaches", []), "escalations": row.status.get("escalations", []),
                    "outcome": row.outcome, "deliveries": row.deliveries,
                    "timeline": self._timeline(row.complaint_id, entries, set(row.status.get("stale", []))),
                }
                if personal:
                    item["customer_name"] = (opened or {}).get("customer_name")
                    item["customer_contact"] = (opened or {}).get("customer_contact")
                yield item

    def has_run(self, complaint_id: str, first_run_id: str) -> bool:
        self.ensure()
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.literal(1)).where(
                complaints.c.complaint_id == complaint_id, complaints.c.first_run_id == first_run_id,
                complaints.c.snapshot.is_(False))).first() is not None

    def has(self, complaint_id: str, received_at: datetime) -> bool:
        """Archived as ended (not a snapshot): a cycle counts it from here, not from visibility."""
        self.ensure()
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.literal(1)).where(
                complaints.c.complaint_id == complaint_id, complaints.c.received_at == received_at,
                complaints.c.snapshot.is_(False))).first() is not None

    def tally(self, contract: str, start: datetime, end: datetime) -> PeriodTally:
        """The period's archived complaints (received in [start, end), snapshots left out), folded in SQL."""
        self.ensure()
        c = complaints.c
        period = sa.and_(c.contract == contract, c.received_at >= start, c.received_at < end, c.snapshot.is_(False))
        inquiry = c.kind == Kind.INQUIRY.value
        where = sa.and_(period, sa.not_(inquiry))  # inquiries are counted apart

        def count(condition: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        # ComplaintOutcome.decided_by(end), for the resolution rate: resolved by the period's end, or past the
        # resolve deadline by then; withdrawn complaints are neither.
        resolved_by_end = sa.and_(c.resolved.is_(True), sa.or_(c.resolved_at.is_(None), c.resolved_at <= end))
        decided = sa.and_(c.withdrawn.is_(False), sa.or_(resolved_by_end, c.resolve_deadline <= end))
        breached = (c.major_breaches + c.minor_breaches) > 0
        totals_query = sa.select(
            sa.func.count().label("complaints"),
            count(decided).label("decided"),
            count(sa.and_(c.withdrawn.is_(False), resolved_by_end)).label("decided_resolved"),
            count(sa.and_(c.at_fault.is_(True), c.remedy.is_(None))).label("at_fault_without_remedy"),
            *[count(getattr(c, name).is_(True)).label(name) for name in arc.SUMMED],
            count(c.handling_seconds.is_not(None)).label("handled"),
            sa.func.coalesce(sa.func.sum(c.handling_seconds), 0).label("handling_seconds"),
            count(sa.and_(c.major.is_(True), c.resolved_in_time.is_not(None))).label("major_decided"),
            count(sa.and_(c.major.is_(True), c.resolved_in_time.is_(True))).label("major_in_time"),
            sa.func.coalesce(sa.func.sum(c.major_breaches), 0).label("major_breaches"),
            sa.func.coalesce(sa.func.sum(c.minor_breaches), 0).label("minor_breaches"),
        ).where(where)
        with self.engine.connect() as connection:
            totals = {k: int(v) for k, v in connection.execute(totals_query).one()._mapping.items()}
            totals["inquiries"] = int(connection.execute(
                sa.select(sa.func.count()).where(period, inquiry)).scalar_one())
            category = sa.func.coalesce(c.category, UNCATEGORISED)
            categories = {name: (int(n), int(resolved), int(with_breach)) for name, n, resolved, with_breach in
                          connection.execute(sa.select(category, sa.func.count(), count(c.resolved.is_(True)),
                                                       count(breached)).where(where).group_by(category))}
            groups = {}
            for name in arc.GROUPED:
                column = getattr(c, name)
                groups[name] = {key: int(n) for key, n in connection.execute(
                    sa.select(column, sa.func.count()).where(where, column.is_not(None)).group_by(column))}
            k = complaint_clocks.c
            joined = complaint_clocks.join(complaints, sa.and_(k.complaint_id == c.complaint_id,
                                                               k.first_run_id == c.first_run_id))
            clocks = {clock: (int(met), int(missed)) for clock, met, missed in connection.execute(
                sa.select(k.clock, sa.func.sum(k.met), sa.func.sum(k.breached)).select_from(joined)
                .where(where).group_by(k.clock))}
            met, missed = connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(k.met), 0), sa.func.coalesce(sa.func.sum(k.breached), 0))
                .select_from(joined).where(period, inquiry, k.clock == ClockName.ACKNOWLEDGE.value)).one()
        return arc.tally_of(totals, groups, clocks, decided_by=end, categories=categories,
                            inquiry_acknowledge=(int(met), int(missed)))

    def breach_ids(self, contract: str, start: datetime, end: datetime, *, limit: int = 1000) -> dict[str, list[str]]:
        """Per breach class, the ids of the period's archived complaints that had one (at most `limit` each)."""
        self.ensure()
        c = complaints.c
        found: dict[str, list[str]] = {}
        with self.engine.connect() as connection:
            for name, column in (("major", c.major_breaches), ("minor", c.minor_breaches)):
                found[name] = list(connection.execute(
                    sa.select(c.complaint_id).where(c.contract == contract, c.received_at >= start,
                                                    c.received_at < end, c.snapshot.is_(False), column > 0)
                    .order_by(c.complaint_id).limit(limit)).scalars())
        return found

    def record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        self.ensure()
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(records.c.document).where(
                records.c.kind == kind, records.c.record_id == record_id)
                .order_by(records.c.finished_at.desc()).limit(1)).first()
        return dict(row.document) if row else None

    def records_of(self, kind: str, contract: str) -> list[dict[str, Any]]:
        """Every archived record of a kind and contract (outages: few enough to read whole)."""
        self.ensure()
        with self.engine.connect() as connection:
            return [dict(doc) for doc in connection.execute(sa.select(records.c.document).where(
                records.c.kind == kind, records.c.contract == contract).order_by(records.c.finished_at)).scalars()]

    def verify(self, complaint_id: str | None = None) -> tuple[int, list[ChainProblem]]:
        """Recompute every (or one) complaint's chain: (complaints checked, the entries that no longer match)."""
        self.ensure()
        query = sa.select(complaints.c.complaint_id, complaints.c.first_run_id, complaints.c.chain_head)
        if complaint_id is not None:
            query = query.where(complaints.c.complaint_id == complaint_id)
        problems, checked = [], 0
        with self.engine.connect() as connection:
            heads = list(connection.execute(query))
        for cid, first_run, head in heads:
            checked += 1
            entries = self._events(cid, first_run)
            chained = []
            for e in entries:
                sealed = self.unseal(e.sealed, cid)
                if sealed is None:  # unreadable: changed, or under a key not configured here
                    sealed = {"unreadable": e.sealed}
                chained.append(arc.chain_entry(e.type, e.at.isoformat(), e.by, e.details, sealed))
            bad = arc.verify_chain(chained, [e.hash for e in entries], head)
            if bad is not None:
                problems.append(ChainProblem(cid, first_run, bad, entries[bad].type if bad < len(entries) else None))
        return checked, problems


def _where(table: sa.Table, key: dict[str, Any]) -> Any:
    return sa.and_(*(table.c[name] == value for name, value in key.items()))


def _summary(row: sa.Row) -> dict[str, Any]:
    return {"id": row.complaint_id, "contract": row.contract, "severity": row.severity, "state": row.state,
            "category": row.category, "received_at": row.received_at.isoformat(), "breached": row.breached,
            "archived_at": row.archived_at.isoformat(), "first_run_id": row.first_run_id,
            "snapshot": row.snapshot}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # the worker writes while the CLI and API read
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_stores: dict[tuple[str, tuple], ArchiveStore] = {}
_ALEMBIC = threading.Lock()


def store_for(url: str, keyring: Keys | None) -> ArchiveStore:
    """One store (one engine, one pool) per URL and keyring in a process."""
    keyring = keyring or NoKeys()
    key = (url, (tuple(sorted(keyring.keys.items())), keyring.active))
    if key not in _stores:
        _stores[key] = ArchiveStore(url, keyring)
    return _stores[key]


EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS = ("id", "contract", "severity", "state", "category", "channel", "customer_id", "received_at",
               "archived_at", "policy_version", "breached", "major_breaches", "minor_breaches", "resolved_in_time",
               "first_response_business_seconds", "handling_seconds", "csat", "nps", "ces", "first_run_id")
PERSONAL_COLUMNS = PERSONAL
JSON_COLUMNS = ("breaches", "escalations", "deliveries", "timeline")  # nested: one JSON document per cell in CSV


def export_lines(rows: Iterator[dict[str, Any]], fmt: str, *, personal: bool) -> Iterator[str]:
    """The export as text lines: JSON Lines (each row whole), or CSV with the nested parts as JSON cells."""
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False, default=str) + "\n"
        return
    columns = [*CSV_COLUMNS, *(PERSONAL_COLUMNS if personal else ()), *JSON_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        yield _drained(buffer)
        outcome = row.get("outcome") or {}
        flat = {**row, "major_breaches": (outcome.get("breaches") or {}).get("major", 0),
                "minor_breaches": (outcome.get("breaches") or {}).get("minor", 0),
                "first_response_business_seconds": outcome.get("first_response_business_seconds"),
                **{k: outcome.get(k) for k in ("resolved_in_time", "handling_seconds", "csat", "nps", "ces")}}
        writer.writerow([json.dumps(flat.get(c), ensure_ascii=False) if c in JSON_COLUMNS else
                         ("" if flat.get(c) is None else flat.get(c)) for c in columns])
    yield _drained(buffer)


def _drained(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
