"""End to end against a real dev server that the test starts with `cxsla server`, a `cxsla worker` process
and a real webhook receiver; every command goes through the `cxsla` CLI as a user would type it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.helpers.e2e import CXSLA, WebhookReceiver, cli, cli_json, free_port, wait_for

pytestmark = pytest.mark.e2e  # a dev server and cxsla workers as subprocesses

POLICY = """
version = "e2e"
[calendars.24x7]
timezone = "UTC"
[contracts.fast]
calendar = "24x7"
warn_at = [0.5]
survey_window = "PT30S"
escalation = [{ after = "PT0S", to = "team-lead" }, { after = "PT2S", to = "supervisor" },
              { after = "PT4S", to = "manager" }]
[contracts.fast.targets]
acknowledge = "PT3S"
triage = "PT1H"
handling_plan = "PT1H"
progress_update = "PT1H"
resolve = "PT2H"
notify_result = "PT1H"
survey = "PT1H"
[contracts.fast.severity.critical]
targets = { resolve = "PT1H" }
major_breach = ["resolve"]

[contracts.calm]
calendar = "24x7"
survey_window = "PT30S"
[contracts.calm.targets]
acknowledge = "PT1H"
triage = "PT1H"
handling_plan = "PT1H"
progress_update = "PT1H"
resolve = "PT2H"
notify_result = "PT1H"
survey = "PT1H"
"""


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """`cxsla server` on free ports; yields (env for CLI calls, function starting a worker process)."""
    tmp = tmp_path_factory.mktemp("e2e")
    policy = tmp / "policy.toml"
    policy.write_text(POLICY)
    port, ui_port = free_port(), free_port()
    server = subprocess.Popen(
        [CXSLA, "server", "--port", str(port), "--ui-port", str(ui_port), "--db", str(tmp / "temporal.db")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "CXSLA_POLICY": str(policy), "CXSLA_TASK_QUEUE": "e2e"}
    try:
        wait_for(lambda: cli("complaint", "list", env=env, check=False).returncode == 0, 60, "dev server")
        yield env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def start_worker(env: dict[str, str], hook: WebhookReceiver, log: Path) -> subprocess.Popen:
    worker_env = {**os.environ, **env, "CXSLA_WEBHOOK_URL": hook.url, "CXSLA_WEBHOOK_SECRET": "s3cret",
                  "CXSLA_METRICS_PORT": str(free_port())}
    return subprocess.Popen([CXSLA, "worker"], env=worker_env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_breach_noticed_within_a_second_and_ladder_fires_once_in_order(service, tmp_path):
    with WebhookReceiver() as hook:
        worker = start_worker(service, hook, tmp_path / "worker.log")
        try:
            opened = cli_json("complaint", "open", "--id", "e2e-1", "--contract", "fast", "--severity", "normal",
                              "--channel", "phone", "--customer-id", "cust-1", env=service)
            assert opened["created"] is True and opened["state"] == "received"
            again = cli_json("complaint", "open", "--id", "e2e-1", "--contract", "fast", "--severity", "normal",
                             env=service)
            assert again["created"] is False

            def escalated():
                status = cli_json("complaint", "show", "e2e-1", env=service)
                return status if len(status["escalations"]) == 3 else None

            status = wait_for(escalated, 30, "three escalation steps")
        finally:
            worker.terminate()
            worker.wait(20)
        ack = next(c for c in status["clocks"] if c["name"] == "acknowledge")
        deadline = _parse(ack["deadline"])
        assert ack["state"] == "breached"
        [breach] = status["breaches"]
        assert breach["clock"] == "acknowledge" and breach["class"] == "minor"
        assert deadline <= _parse(breach["at"]) <= deadline + timedelta(seconds=1)
        steps = status["escalations"]
        assert [(s["level"], s["to"]) for s in steps] == [(1, "team-lead"), (2, "supervisor"), (3, "manager")]
        for step, offset in zip(steps, (0, 2, 4), strict=True):
            due = deadline + timedelta(seconds=offset)
            assert due <= _parse(step["at"]) <= due + timedelta(seconds=1)
        delivered = [n["action_id"] for n in hook.notifications() if n["complaint_id"] == "e2e-1"]
        escalations = [a for a in delivered if ":escalate:" in a]
        assert escalations == [f"acknowledge#1:escalate:{level}" for level in (1, 2, 3)]
        assert len(delivered) == len(set(delivered)), delivered


def test_worker_killed_while_deadlines_pass_fires_each_once_after_restart(service, tmp_path):
    with WebhookReceiver() as hook:
        worker = start_worker(service, hook, tmp_path / "worker.log")
        cli_json("complaint", "open", "--id", "e2e-kill", "--contract", "fast", "--severity", "normal",
                 env=service)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed_at = datetime.now(timezone.utc)
        # Every deadline (3 s + ladder at +0/+2/+4 s) passes while no worker runs.
        wait_for(lambda: datetime.now(timezone.utc) > killed_at + timedelta(seconds=9), 15, "deadlines to pass")
        worker = start_worker(service, hook, tmp_path / "worker2.log")
        try:
            def escalated() -> dict | None:
                # A query can time out while the killed worker's sticky queue still looks alive (~10 s): retry.
                shown = cli("complaint", "show", "e2e-kill", "--json", env=service, check=False)
                status = json.loads(shown.stdout) if shown.returncode == 0 else None
                return status if status and status["escalations"][2:] else None

            status = wait_for(escalated, 45, "escalations after restart")
            wait_for(lambda: sum(":escalate:" in n["action_id"] for n in hook.notifications()) >= 3, 20,
                     "deliveries")
        finally:
            worker.terminate()
            worker.wait(20)
    assert len(status["breaches"]) == 1
    assert [s["level"] for s in status["escalations"]] == [1, 2, 3]
    delivered = [n["action_id"] for n in hook.notifications() if n["complaint_id"] == "e2e-kill"]
    assert len(delivered) == len(set(delivered)), f"something fired twice: {delivered}"
    # the breach and its ladder, each once; the warnings that fell due while no worker ran are superseded by the
    # breach and are not sent late
    assert {"acknowledge#1:breach", "acknowledge#1:escalate:1", "acknowledge#1:escalate:2",
            "acknowledge#1:escalate:3"} <= set(delivered)
    assert "acknowledge#1:warn:80" not in delivered


def test_full_lifecycle_and_bad_input_through_the_cli(service, tmp_path):
    with WebhookReceiver() as hook:
        worker = start_worker(service, hook, tmp_path / "worker.log")
        try:
            cli_json("complaint", "open", "--id", "e2e-life", "--contract", "calm", "--severity", "critical",
                     env=service)
            # Bad input: clear message on stderr, non-zero exit, nothing recorded.
            for args, message in [
                (("complaint", "open", "--id", "x1", "--contract", "nope", "--severity", "normal"),
                 "unknown contract"),
                (("complaint", "open", "--id", "x2", "--contract", "fast", "--severity", "urgent"), "urgent"),
                (("complaint", "open", "--id", "x3", "--contract", "fast", "--severity", "low", "--received-at",
                  (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()), "in the future"),
                (("complaint", "resolve", "e2e-life", "--resolution", "fixed"), "acknowledge it first"),
                (("complaint", "feedback", "e2e-life", "--csat", "9"), "csat"),
                (("complaint", "assign", "e2e-life"), "name an agent (to) or a group"),
                (("calendar", "add", "--calendar", "24x7", "--from", "2025-01-01T00:00:00Z", "--duration",
                  "2 wrking hours"), "cannot read duration"),
            ]:
                result = cli(*args, env=service, check=False)
                assert result.returncode != 0, args
                assert message in result.stderr, (args, result.stderr)
                assert result.stdout.strip() == "" or not result.stdout.startswith("{")
            before = cli_json("complaint", "show", "e2e-life", env=service)
            assert [e["type"] for e in before["timeline"]] == ["received"]  # the refusals recorded nothing
            assigned = cli_json("complaint", "assign", "e2e-life", "--to", "amy", "--group", "billing", env=service)
            assert (assigned["assignee"], assigned["group"]) == ("amy", "billing")
            wait_for(lambda: [r["id"] for r in cli_json("complaint", "list", "--assignee", "amy", env=service)]
                     == ["e2e-life"], 10, "the complaint in amy's queue")
            for args in [("ack", "--by", "amy"), ("triage", "--category", "billing"), ("plan",), ("progress",),
                         ("resolve", "--resolution", "refund issued", "--remedy", "compensation", "--by", "sam"),
                         ("notify",)]:
                cli_json("complaint", args[0], "e2e-life", *args[1:], env=service)
            wait_for(lambda: any(e["type"] == "survey_sent" for e in
                                 cli_json("complaint", "show", "e2e-life", env=service)["timeline"]), 20, "survey")
            closed = cli_json("complaint", "feedback", "e2e-life", "--csat", "5", "--nps", "9", env=service)
            assert closed["state"] == "closed"
            refused = cli("complaint", "reopen", "e2e-life", env=service, check=False)
            assert refused.returncode != 0 and refused.stderr
            rows = cli_json("complaint", "list", "--contract", "calm", "--state", "closed", env=service)
            assert "e2e-life" in [r["id"] for r in rows] or wait_for(
                lambda: "e2e-life" in [r["id"] for r in cli_json("complaint", "list", "--state", "closed",
                                                                 env=service)], 10, "visibility")
            breached = cli_json("complaint", "list", "--breached", env=service)
            assert "e2e-life" not in [r["id"] for r in breached]
        finally:
            worker.terminate()
            worker.wait(20)
