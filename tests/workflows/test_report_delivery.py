"""A finished assessment report reaches the contract's recipients (000 §3.4, 002 §2.3: results reported to the
other party): by e-mail with the HTML and Markdown attached (a real SMTP server, aiosmtpd) and by the webhook with
the JSON, through the worker's own sinks, keyed and retried; the cycle completes only once they took it."""

from __future__ import annotations

import json
from datetime import timedelta

from activities.email import IDEMPOTENCY_HEADER, SmtpSink
from activities.notifications import FanoutSink, WebhookSink
from sla.reporting import CycleResult, cycle_workflow_id
from starter.client.assessment import AssessmentClient
from tests.activities.test_email import SENDER, smtp_server
from tests.activities.test_webhook import Receiver, receiver, signature_ok  # noqa: F401 - `receiver` is a fixture
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy

CONTRACT = "always-on"
CLIENT_CX = "cx-lead@client.example.cn"
DESK = "desk@cx.example.cn"


def mail_and_webhook(mail, hook: Receiver) -> FanoutSink:
    """The worker's sinks as an operator sets them: SMTP (unrouted notices to the desk) and the signed webhook."""
    return FanoutSink([
        SmtpSink("127.0.0.1", port=mail.port, security="none", sender=SENDER, default_to=[DESK], timeout=5),
        WebhookSink(hook.url, "s3cret-for-tests"),
    ])


async def test_a_finished_report_is_mailed_with_attachments_and_posted_as_json_once_each(
        own_time_skipping_env, tmp_path, receiver: Receiver):  # noqa: F811 - the imported fixture
    env = own_time_skipping_env
    raw = default_raw()
    raw["contracts"][CONTRACT]["report_to"] = {"email": [CLIENT_CX], "webhook": True}
    path, parsed = write_policy(raw, tmp_path / "policy.toml")
    receiver.refuse_once = [b'"deliver_report"']  # the report's first post fails: retried with the same key
    async with smtp_server() as mail:
        async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                     sink=mail_and_webhook(mail, receiver),
                                     known=KnownWorkflows(env.client, [])) as (queue, _):
            past = await env.get_current_time() - timedelta(days=100)
            period = f"{past.year}-{past.month:02d}"
            await AssessmentClient(env.client, task_queue=queue, policy=parsed).start_cycle(CONTRACT, period)
            result = await result_of(env, cycle_workflow_id(CONTRACT, period), CycleResult)
    assert result.report_delivered_at is not None
    wid = cycle_workflow_id(CONTRACT, period)

    reports = [m for m in mail.accepted() if m.rcpt_tos == [CLIENT_CX]]
    assert len(reports) == 1, [m.rcpt_tos for m in mail.accepted()]
    message = reports[0].message
    assert message["Subject"] == f"[cx-sla] Assessment report {wid}"
    key = message[IDEMPOTENCY_HEADER]
    assert key.startswith(f"{wid}/") and key.endswith("/report:deliver")
    attached = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(attached) == {f"{wid}.html", f"{wid}.md"}
    assert attached[f"{wid}.html"].get_content_type() == "text/html"
    assert "<svg" in attached[f"{wid}.html"].get_content() or "<table" in attached[f"{wid}.html"].get_content()
    assert period in attached[f"{wid}.md"].get_content()

    posts = receiver.by_key(key)
    assert [d.answered for d in posts] == [503, 200]  # one failed attempt, then the same notice again
    assert posts[0].body == posts[1].body and signature_ok(posts[1])
    body = posts[1].json
    assert body["kind"] == "deliver_report" and body["subject_id"] == wid
    assert body["report"]["result"]["period"] == period
    assert {k["name"] for k in body["report"]["result"]["assessment"]["kpis"]} >= {"resolution_rate", "csat"}
    assert json.dumps(body).count("attachments") == 0


async def test_without_report_to_a_report_goes_to_nobody(own_time_skipping_env, tmp_path,
                                                         receiver: Receiver):  # noqa: F811 - the imported fixture
    env = own_time_skipping_env
    path, parsed = write_policy(default_raw(), tmp_path / "policy.toml")
    async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                 sink=WebhookSink(receiver.url, None),
                                 known=KnownWorkflows(env.client, [])) as (queue, _):
        past = await env.get_current_time() - timedelta(days=100)
        period = f"{past.year}-{past.month:02d}"
        await AssessmentClient(env.client, task_queue=queue, policy=parsed).start_cycle(CONTRACT, period)
        await result_of(env, cycle_workflow_id(CONTRACT, period), CycleResult)
    assert [d.json["kind"] for d in receiver.accepted() if d.json["kind"] == "deliver_report"] == []
