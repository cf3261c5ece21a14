"""The survey reaches the customer (000 §3.2a): once the result is notified, the worker's activity reads the
customer's e-mail address from the complaint's encrypted history and mails a signed one-time link over SMTP (a real
aiosmtpd receiver); the API's plain HTML page takes the answer and records it as the complaint's feedback, which
closes it. On the dev server, through the worker's own sink wiring (worker_runtime.notification_sink)."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio

from activities.notifications import Notice, NotificationSink
from starter.service.worker_runtime import notification_sink
from tests.activities.test_email import MailServer, smtp_server
from tests.helpers.e2e import until
from tests.helpers.service import Service, Tokens, service_settings
from tests.helpers.sinks import RecordingSink
from tests.starter.test_api import POLICY  # contract `calm`: hour-long clocks, none runs out here

pytestmark = pytest.mark.e2e  # the real HTTP service, an SMTP server and the dev server

CONTACT, DESK = "li.na@example.cn", "desk@cx.example.cn"
SECRET = "a survey secret shared by worker and API"


class Forwarding(RecordingSink):
    """Records every notice, then hands it to the worker's configured sinks."""

    def __init__(self, then: NotificationSink) -> None:
        super().__init__()
        self.then = then

    async def deliver(self, notice: Notice) -> None:
        await super().deliver(notice)
        await self.then.deliver(notice)


@pytest_asyncio.fixture
async def mailbox():
    async with smtp_server() as box:
        yield box


async def test_the_customer_answers_the_mailed_survey_once_and_it_becomes_the_feedback(dev_env, tmp_path,
                                                                                       mailbox: MailServer):
    tokens = Tokens()
    settings = service_settings(dev_env.client.service_client.config.target_host, tmp_path, tokens, policy=POLICY,
                                smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_security="none",
                                smtp_from="cx-sla@cx.example.cn", smtp_to=(DESK,), survey_secret=SECRET)
    service = Service(settings)
    service.settings = settings.model_copy(update={"survey_url": service.url})
    service.sink = Forwarding(notification_sink(service.settings))
    agent = {"Authorization": f"Bearer {tokens.agent}"}
    supervisor = {"Authorization": f"Bearer {tokens.supervisor}"}
    cid = f"srv-{uuid.uuid4().hex[:8]}"
    with service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            opened = await http.post("/v1/complaints", headers=agent, json={
                "id": cid, "contract": "calm", "severity": "normal", "customer_name": "Li Na",
                "customer_contact": CONTACT})
            assert opened.status_code == 201, opened.text
            for name, who, body in (("acknowledge", agent, {}), ("triage", agent, {}),
                                    ("resolve", supervisor, {"resolution": "refunded"}), ("notify_result", agent, {})):
                answer = await http.post(f"/v1/complaints/{cid}/{name}", headers=who, json=body)
                assert answer.status_code == 200, (name, answer.text)

            def to_customer() -> list[EmailMessage]:
                return [m.message for m in mailbox.accepted() if m.rcpt_tos == [CONTACT]]

            [mail] = await until(to_customer, 60, "the survey e-mail to the customer")
            assert mail["To"] == CONTACT and cid in mail["Subject"]
            text = mail.get_content()
            [link] = re.findall(rf"{re.escape(service.url)}/survey/[A-Za-z0-9_.-]+", text)
            path = link.removeprefix(service.url)

            page = await http.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert '<form method="post">' in page.text and 'name="csat"' in page.text
            assert "<script" not in page.text and "https://" not in page.text  # nothing loaded from elsewhere
            assert CONTACT not in page.text and "Li Na" not in page.text

            refused = await http.post(path, data={"csat": "9"})
            assert refused.status_code == 422 and "csat" in refused.text
            tampered = await http.post(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"), data={"csat": "4"})
            assert tampered.status_code == 400 and "not valid" in tampered.text

            answered = await http.post(path, data={"csat": "2", "nps": "4", "comment": "slow, but fixed"})
            assert answered.status_code == 200 and "recorded" in answered.text, answered.text
            status = (await http.get(f"/v1/complaints/{cid}", headers=agent)).json()
            assert status["state"] == "closed"
            [feedback] = [e for e in status["timeline"] if e["type"] == "feedback_recorded"]
            assert feedback["by"] == "customer:survey-link"
            assert [e["type"] for e in status["timeline"]].count("survey_sent") == 1

            again = await http.post(path, data={"csat": "5"})
            assert again.status_code == 409 and "answered already" in again.text
            assert (await http.get(path)).status_code in (409, 410)

        # the contact went to the customer's mail only: not into a notice, the desk's mail or a status
        assert CONTACT not in str([n.public() for n in service.sink.received])
        desk = [m for m in mailbox.accepted() if m.rcpt_tos == [DESK]]
        assert desk and all(CONTACT.encode() not in m.raw for m in desk)
        assert CONTACT not in str(status)
