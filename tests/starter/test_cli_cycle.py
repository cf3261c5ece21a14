"""`cxsla cycle reassess` refuses bad input with one sentence and exit status 2, before it connects anywhere."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from starter.cli.main import app

UNREACHABLE = ["--address", "127.0.0.1:9"]  # nothing listens: a refusal must come before connecting


def reassess(*args: str):
    return CliRunner().invoke(app, [*UNREACHABLE, "cycle", "reassess", *args, "--contract", "default", "--period",
                                    "2026-10", "--channel", "hotline"], prog_name="cxsla")


def test_a_blank_reason_is_refused_naming_the_field(tmp_path: Path):
    answers = tmp_path / "late.csv"
    answers.write_text("csat\n5\n4\n")
    refused = reassess(str(answers), "--reason", "   ")
    assert refused.exit_code == 2, refused.output
    assert "reason" in refused.output and "blank" in refused.output and "Traceback" not in refused.output


def test_an_unreadable_survey_file_is_refused_naming_the_row(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("csat\n6\n")
    refused = reassess(str(bad), "--reason", "late hotline export")
    assert refused.exit_code == 2, refused.output
    assert "row 1" in refused.output and "csat" in refused.output
