"""Every sink sends the same notice, stripped of free text: an extension's reason reaches no receiver.

A real complaint on the time-skipping server, its notices fanned out to the log, a real HTTP receiver and a real
SMTP server; the supervisor's reason for an extension stays in the complaint's history.
"""

from __future__ import annotations

from datetime import timedelta

from structlog.testing import capture_logs

from activities.notifications import FanoutSink, LogSink, WebhookSink
from sla import commands as cmd
from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient
from tests.activities.test_email import MailServer, body_lines, mail, plain_sink  # noqa: F401 - fixture
from tests.activities.test_webhook import SECRET, Receiver, receiver, signature_ok  # noqa: F401 - fixture
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import CONTRACT, assert_no_task_failures, command, settle, test_policy, time_skipping_server

S = timedelta(seconds=1)
REASON = "customer 王芳 (+86 138 0000 0000) asked for a site visit"


async def test_an_extensions_reason_reaches_no_sink_and_all_sinks_send_the_same_fields(
        receiver: Receiver, mail: MailServer):  # noqa: F811 - the imported fixtures
    sinks = FanoutSink([LogSink(), WebhookSink(receiver.url, SECRET), plain_sink(mail)])
    with capture_logs() as logs:
        async with time_skipping_server() as env:
            async with cxsla_worker(env.client, sink=sinks) as queue:
                c = ComplaintClient(env.client, task_queue=queue, policy=test_policy())
                r = (await c.open(OpenComplaint(id="ft1", contract=CONTRACT, severity="normal"))).status.received_at
                await command(env, c, "ft1", "acknowledge", cmd.Acknowledge(by="amy"))
                await command(env, c, "ft1", "extend", cmd.Extend(clock="resolve", until=r + 400 * S, reason=REASON))
                await env.sleep(r + 16 * S - await env.get_current_time())  # triage warns at 15 s
                await settle(env, "ft1")
                await assert_no_task_failures(env.client, "ft1")

    posted = {d.json["action_id"]: d for d in receiver.accepted()}
    logged = {e["action_id"]: e for e in logs if e.get("event") == "notification"}
    mailed = {body_lines(m)["action_id"]: m for m in mail.accepted()}
    assert posted.keys() == logged.keys() == mailed.keys()
    extension = next(a for a in posted if a.startswith("extension:"))
    warning = next(a for a in posted if a.startswith("triage#1:warn"))

    for needle in ("王芳", "+86", "site visit"):
        assert needle not in posted[extension].body.decode()
        assert needle not in str(logged[extension])
        assert needle.encode() not in mailed[extension].raw
    assert posted[extension].json["detail"] is None and signature_ok(posted[extension])
    assert posted[warning].json["detail"] == logged[warning]["detail"] == body_lines(mailed[warning])["detail"]

    for action, delivery in posted.items():  # one stripped notice, three encodings of it
        sent = {k: v for k, v in delivery.json.items() if v is not None}
        assert {k: v for k, v in logged[action].items() if k in sent} == sent
        lines = body_lines(mailed[action])
        assert lines["action_id"] == sent["action_id"] and lines["idempotency_key"] == sent["idempotency_key"]
        assert lines.get("detail") == sent.get("detail")
