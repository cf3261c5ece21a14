"""Refused before anything connects: a misconfigured environment variable stops the CLI with one sentence naming
the variable (exit 2), never a pydantic traceback; an unknown filter value is refused, not matched to nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from starter.cli.main import app, register


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("CXSLA_ARCHIVE_URL", "mysql://db/x", "'mysql' is not supported"),
    ("CXSLA_SURVEY_LINK_DAYS", "0", "greater than or equal to 1"),
    ("CXSLA_SURVEY_LINK_DAYS", "soon", "valid integer"),
])
def test_a_bad_setting_is_one_sentence_and_exit_2(monkeypatch, tmp_path, variable, value, says):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    register("complaint")
    result = CliRunner().invoke(app, ["--address", "127.0.0.1:1", "complaint", "list"], prog_name="cxsla")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert text.startswith(f"error: {variable}: ") and says in text
    assert "pydantic" not in text and isinstance(result.exception, SystemExit)


def test_list_refuses_an_unknown_state_before_connecting():
    """As the API does (422): an unknown --state is a typo, not a filter that matches nothing."""
    register("complaint")
    result = CliRunner().invoke(app, ["--address", "127.0.0.1:1", "complaint", "list", "--state", "opened"],
                                prog_name="cxsla")
    assert result.exit_code == 2, result.output
    assert "--state" in result.output and "received" in result.output


@pytest.mark.parametrize("archive_filter", [["--category", "billing"], ["--customer-id", "C-77"]])
def test_list_refuses_an_assignee_with_a_filter_only_the_archive_has(archive_filter):
    """Category and customer id search only the archive, which keeps no assignee: as the API's 422, not an empty
    list that reads as "nobody has any"."""
    register("complaint")
    result = CliRunner().invoke(app, ["--address", "127.0.0.1:1", "complaint", "list", "--assignee", "amy",
                                      *archive_filter], prog_name="cxsla")
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == "error: assignee: the archive is not searched by assignee"


def test_export_to_a_file_it_cannot_write_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CXSLA_ARCHIVE_URL", f"sqlite:///{tmp_path}/archive.sqlite")
    register("complaint")
    result = CliRunner().invoke(app, ["--address", "127.0.0.1:1", "complaint", "export", "--from", "2026-01-01",
                                      "--to", "2026-02-01", "-o", str(tmp_path)], prog_name="cxsla")
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()).startswith(f"error: --output: cannot write {tmp_path}")


def test_an_export_period_that_ends_before_it_starts_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CXSLA_ARCHIVE_URL", f"sqlite:///{tmp_path}/archive.sqlite")
    register("complaint")
    result = CliRunner().invoke(app, ["--address", "127.0.0.1:1", "complaint", "export", "--from", "2026-02-01",
                                      "--to", "2026-01-01"], prog_name="cxsla")
    assert result.exit_code == 2 and " ".join(result.output.split()) == "error: --to: must be later than --from"
