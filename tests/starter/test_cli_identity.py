"""The CLI acts under an identity: CXSLA_TOKEN checked against the API's token hashes (name and role), or
local-admin only on the dev server a live `cxsla up` of this user started from this directory; `--by` can only
repeat who acts. Every refusal here happens before Temporal is called (the address is a closed port)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import identity
from starter.cli.identity import (
    LOCAL_ADMIN,
    Refused,
    authorise,
    embedded_dev_server,
    principal_for,
    remove_up_marker,
    write_up_marker,
)
from starter.cli.main import app, register
from starter.service.settings import Settings
from starter.service.tokens import Principal, Role, config_line

AGENT, SUPERVISOR = "cxsla_" + "a" * 40, "cxsla_" + "s" * 40
TOKENS = ",".join([config_line("amy", Role.AGENT, AGENT), config_line("sam", Role.SUPERVISOR, SUPERVISOR)])
CLOSED = "127.0.0.1:1"


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """A directory of our own, with no CXSLA_/TEMPORAL_ settings from the environment."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("CXSLA_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    return tmp_path


def settings(token: str | None = None) -> Settings:
    return Settings(api_tokens=TOKENS, token=token)


def test_a_token_gives_its_name_and_role(here):
    assert principal_for(CLOSED, settings(AGENT)) == Principal("amy", Role.AGENT)
    assert principal_for(CLOSED, settings(SUPERVISOR)) == Principal("sam", Role.SUPERVISOR)
    with pytest.raises(Refused, match="CXSLA_TOKEN is not a known token"):
        principal_for(CLOSED, settings("cxsla_" + "x" * 40))


def test_roles_are_the_apis_and_by_cannot_name_anyone_else():
    amy = Principal("amy", Role.AGENT)
    assert authorise(amy, Role.AGENT, None) == "amy"
    assert authorise(amy, Role.AGENT, "amy") == "amy"
    with pytest.raises(Refused, match="amy has role agent; this needs supervisor or higher"):
        authorise(amy, Role.SUPERVISOR, None)
    with pytest.raises(Refused, match="--by: you act as amy") as refused:
        authorise(amy, Role.AGENT, "sam")
    assert refused.value.code == 2


def test_without_a_token_nobody_acts_except_on_our_own_dev_server(here, monkeypatch):
    with pytest.raises(Refused, match="who is acting"):
        principal_for(CLOSED, settings())
    marker = write_up_marker("localhost:7233")
    assert json.loads(marker.read_text()) == {"address": "127.0.0.1:7233", "pid": os.getpid()}
    assert marker.stat().st_mode & 0o777 == 0o600
    # this process is pytest, not `cxsla up`: the marker alone is not enough
    assert not embedded_dev_server("127.0.0.1:7233")
    monkeypatch.setattr(identity, "_alive_up", lambda pid: pid == os.getpid())
    assert embedded_dev_server("127.0.0.1:7233") and embedded_dev_server("localhost:7233")
    assert principal_for("127.0.0.1:7233", settings()) == LOCAL_ADMIN
    assert not embedded_dev_server("127.0.0.1:7234")  # another server
    assert not embedded_dev_server("10.0.0.5:7233")  # a remote one
    # a token wins over the marker: its holder acts as themselves
    assert principal_for("127.0.0.1:7233", settings(AGENT)).identity == "amy"
    remove_up_marker()
    assert not marker.exists() and not embedded_dev_server("127.0.0.1:7233")


def test_a_marker_of_a_process_that_is_gone_counts_for_nothing(here):
    write_up_marker("127.0.0.1:7233")
    gone = 2 ** 22 + 12345  # above the kernel's pid limit: no such process
    Path(identity.UP_MARKER).write_text(json.dumps({"address": "127.0.0.1:7233", "pid": gone}))
    assert not identity._alive_up(gone)
    assert not identity._alive_up(os.getpid())  # alive, but not a `cxsla up`
    assert not embedded_dev_server("127.0.0.1:7233")


@pytest.fixture
def cli(here):
    register("complaint")
    runner = CliRunner()

    def invoke(*args: str, token: str | None = None):
        env = {"CXSLA_API_TOKENS": TOKENS, **({"CXSLA_TOKEN": token} if token else {})}
        return runner.invoke(app, ["--address", CLOSED, "complaint", *args], env=env, prog_name="cxsla")

    return invoke


def test_the_cli_refuses_before_connecting(cli):
    refused = cli("resolve", "T-1", "--resolution", "refund", token=AGENT)
    assert refused.exit_code == 1 and "amy has role agent; this needs supervisor or higher" in refused.output
    extend = cli("extend", "T-1", "--until", "2030-01-01T00:00:00Z", "--reason", "parts", token=AGENT)
    assert extend.exit_code == 1 and "this needs supervisor" in extend.output
    impersonating = cli("ack", "T-1", "--by", "sam", token=AGENT)
    assert impersonating.exit_code == 2 and "--by: you act as amy" in impersonating.output
    anonymous = cli("ack", "T-1")
    assert anonymous.exit_code == 1 and "who is acting? set CXSLA_TOKEN" in anonymous.output
    bad_input = cli("ack", "T-1", "--note", "x" * 4001)  # input is refused as such, token or not
    assert bad_input.exit_code == 2 and "note" in bad_input.output


def test_the_customers_name_and_contact_in_an_export_need_a_supervisor_as_in_the_api(cli):
    refused = cli("export", "--from", "2026-01-01", "--to", "2026-02-01", "--personal", token=AGENT)
    assert refused.exit_code == 1 and "amy has role agent; this needs supervisor or higher" in refused.output
    anonymous = cli("export", "--from", "2026-01-01", "--to", "2026-02-01", "--personal")
    assert anonymous.exit_code == 1 and "who is acting? set CXSLA_TOKEN" in anonymous.output


def test_plan_revise_and_third_party_scores_need_a_supervisor_like_their_api_routes(here):
    register(None)
    runner = CliRunner()
    env = {"CXSLA_API_TOKENS": TOKENS, "CXSLA_TOKEN": AGENT}
    revise = runner.invoke(app, [
        "--address", CLOSED, "plan", "revise", "plan-default-csat", "--reason", "review", "--root-cause", "slow",
        "--expected-effect", "85", "--measure", "callbacks | desk | 2027-02-01"], env=env, prog_name="cxsla")
    assert revise.exit_code == 1 and "amy has role agent; this needs supervisor or higher" in revise.output
    score = runner.invoke(app, ["--address", CLOSED, "survey", "third-party", "--contract", "default", "--period",
                                "2026", "--score", "82", "--agency", "Horizon"], env=env, prog_name="cxsla")
    assert score.exit_code == 1 and "this needs supervisor" in score.output
    impersonating = runner.invoke(app, [
        "--address", CLOSED, "plan", "revise", "plan-default-csat", "--by", "amy", "--reason", "review",
        "--root-cause", "slow", "--expected-effect", "85", "--measure", "callbacks | desk | 2027-02-01"],
        env={**env, "CXSLA_TOKEN": SUPERVISOR}, prog_name="cxsla")
    assert impersonating.exit_code == 2 and "--by: you act as sam" in impersonating.output
