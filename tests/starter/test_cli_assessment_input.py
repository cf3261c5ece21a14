"""The new assessment commands refuse bad input at the edge: one plain sentence naming the option, exit 2, and
nothing sent to Temporal (no server runs here: a refusal that got as far as connecting would exit otherwise)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from starter.cli.main import app, register

UNREACHABLE = ["--address", "127.0.0.1:1"]


@pytest.mark.parametrize(("args", "named"), [
    (["survey", "third-party", "--contract", "default", "--period", "2026", "--score", "101", "--agency", "H"],
     "--score"),
    (["survey", "third-party", "--contract", "default", "--period", "2026", "--score", "82", "--agency", "  "],
     "--agency"),
    (["plan", "revise", "plan-default-csat", "--reason", " ", "--root-cause", "slow", "--expected-effect", "85",
      "--measure", "callbacks | desk | 2027-02-01"], "reason"),
    (["plan", "revise", "plan-default-csat", "--reason", "review", "--root-cause", "slow", "--expected-effect", "85",
      "--measure", "callbacks | desk"], "--measure"),
])
def test_bad_input_is_refused_naming_the_option(args, named):
    register(args[0])  # as `cxsla` does: the command's module puts it on the app
    result = CliRunner().invoke(app, [*UNREACHABLE, *args], prog_name="cxsla")
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output
