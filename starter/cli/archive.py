"""`cxsla archive ...`: the archive database's schema and the integrity of its audit trails."""

from __future__ import annotations

import typer
from sqlalchemy.exc import SQLAlchemyError

from activities.archive_store import ArchiveError
from starter.cli.app import app, client_of, emit, fail, globals_of, out, run
from starter.service.archive import archive_of
from starter.service.settings import Settings

archive_app = typer.Typer(no_args_is_help=True, help="The archive of ended complaints, plans, cycles and outages.")
app.add_typer(archive_app, name="archive")


@archive_app.command("migrate")
def archive_migrate(ctx: typer.Context) -> None:
    """Bring the archive's schema (CXSLA_ARCHIVE_URL) to this release's revision; the worker does so at start."""
    store = archive_of(Settings())
    try:
        before = store.revision()
        after = store.migrate()
    except (SQLAlchemyError, ArchiveError) as exc:
        fail(f"cannot migrate the archive: {str(exc).splitlines()[0][:300]}")
    emit(globals_of(ctx), {"from": before, "to": after, "database": store.engine.dialect.name},
         f"archive ({store.engine.dialect.name}) migrated from {before or 'empty'} to {after}")


@archive_app.command("verify")
def archive_verify(ctx: typer.Context, id: str = typer.Option(None, "--id", help="Only this complaint.")) -> None:
    """Recompute each complaint's hash chain; exits 1 naming every entry changed since it was archived."""
    store = archive_of(Settings())
    try:
        checked, problems = store.verify(id)
    except (SQLAlchemyError, ArchiveError) as exc:
        fail(f"the archive cannot be read: {str(exc).splitlines()[0][:300]}")
    g = globals_of(ctx)
    if id is not None and checked == 0:
        fail(f"no archived complaint with id {id!r}", 2)
    emit(g, {"checked": checked, "changed": [p.__dict__ | {"message": p.describe()} for p in problems]},
         f"{checked} complaint(s) checked, {len(problems)} with a changed entry")
    for problem in problems:
        out.print(f"  {problem.describe()}", highlight=False) if not g.json else None
    if problems:
        raise typer.Exit(1)


@archive_app.command("backfill")
def archive_backfill(ctx: typer.Context, contract: str = typer.Option(None)) -> None:
    """Archive the ended complaints Temporal still keeps from before the archive existed (their events without
    personal data or free text), so cycles count them once Temporal's retention deletes them."""
    g = globals_of(ctx)

    async def go() -> tuple[int, int]:
        return await (await client_of(g)).archive_ended(contract=contract)

    done, present = run(go())
    emit(g, {"archived": done, "already_archived": present},
         f"{done} ended complaint(s) archived, {present} already in the archive")


@archive_app.command("snapshot")
def archive_snapshot(ctx: typer.Context, id: str = typer.Argument(..., help="Complaint id.")) -> None:
    """Archive an open complaint as it stands now (without personal data or free text); the record it writes when
    it ends replaces the snapshot, and cycles never count one."""
    g = globals_of(ctx)

    async def go() -> None:
        await (await client_of(g)).snapshot(id)

    run(go())
    emit(g, {"snapshot": id}, f"complaint {id} archived as a snapshot")
