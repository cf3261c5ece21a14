"""`cxsla survey import`: survey results into a cycle, reduced to score histograms here."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import typer

from sla.surveys import SurveyBatch, SurveyChannel, SurveyError, batch_from_rows
from starter.cli.app import CONTRACT, PERIOD, acting, app, assessments_of, emit, fail, globals_of, run
from starter.service.tokens import Role

survey_app = typer.Typer(no_args_is_help=True, help="Import survey results into a cycle.")
app.add_typer(survey_app, name="survey")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """CSV with a header row, or JSON: a list of objects (or {"responses": [...]})."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("responses", data.get("rows"))
        if not isinstance(data, list):
            raise SurveyError("a JSON import is a list of response objects (or {\"responses\": [...]})")
        return data
    return list(csv.DictReader(io.StringIO(text)))


def read_batch(file: Path, channel: SurveyChannel, batch_id: str | None) -> SurveyBatch:
    """A survey export as score histograms (personal columns dropped here); an unreadable file exits 2."""
    try:
        raw = file.read_bytes()
        rows = read_rows(file)
        return batch_from_rows(rows, channel=channel,
                               batch_id=batch_id or f"{channel.value}-{hashlib.sha256(raw).hexdigest()[:16]}")
    except (OSError, ValueError) as exc:  # SurveyError, JSON and CSV errors are ValueErrors
        fail(f"{file}: {exc}", 2)


@survey_app.command("import")
def survey_import(
    ctx: typer.Context, file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or JSON of answers."),
    contract: str = CONTRACT, period: str = PERIOD,
    channel: SurveyChannel = typer.Option(..., help="email|sms|web|social|hotline|third-party"),
    batch_id: str = typer.Option(None, "--batch-id", help="Default: derived from the file's content."),
) -> None:
    """Reduce a survey export to score histograms (personal columns dropped here) and add it to the cycle."""
    g = globals_of(ctx)
    batch = read_batch(file, channel, batch_id)
    acting(g, Role.SUPERVISOR)

    async def go():
        return await (await assessments_of(g)).import_survey(contract, period, batch)

    receipt = run(go())
    emit(g, {**receipt.model_dump(mode="json"), "channel": channel.value, "answers_in_file": batch.responses},
         f"batch {receipt.batch_id}: {'already imported, nothing changed' if receipt.duplicate else 'added'} "
         f"({batch.responses} answers); the cycle has {receipt.batches} batches, {receipt.responses} answers")


@survey_app.command("third-party")
def survey_third_party(
    ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD,
    score: float = typer.Option(..., min=0, max=100, help="The agency's overall satisfaction score, 0-100."),
    agency: str = typer.Option(..., help="The independent agency that surveyed."),
) -> None:
    """Record a third-party agency's overall score: into the period's cycle while it takes surveys, else as the
    re-survey that verifies the open third-party improvement plan."""
    g = globals_of(ctx)
    if not agency.strip():
        fail("--agency: must not be blank", 2)
    by = acting(g, Role.SUPERVISOR)

    async def go():
        return await (await assessments_of(g)).record_third_party(contract, period, score, agency, by=by)

    recorded = run(go())
    where = (f"plan {recorded.recorded_on} as re-survey {recorded.resurvey} (target met: {recorded.met})"
             if recorded.resurvey else f"cycle {recorded.recorded_on}"
             + (" (already recorded, nothing changed)" if recorded.duplicate else ""))
    emit(g, recorded.model_dump(mode="json"), f"{recorded.agency}: {recorded.score:g} recorded on {where}")
