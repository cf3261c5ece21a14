"""The satisfaction survey sent to the customer (000 §3.2a: within N working days of completion, by e-mail or SMS
link), by e-mail through the worker's SMTP settings, with a signed one-time link to the API's survey page.

The customer's contact lives only in the complaint's first event, which the payload codec keeps encrypted in
Temporal. It is read here, inside the delivering activity, from the start event of the complaint's current run,
decoded by the worker's own data converter, and used for the envelope and `To` only: no notice, log line, status
or search attribute carries it. A complaint without an e-mail contact gets no customer mail (SMS is not wired
yet); that is logged by complaint id, without the contact.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import structlog
from temporalio import activity
from temporalio.client import Client

from activities.email import IDEMPOTENCY_HEADER, POLICY, SmtpSink, message_id
from sla import events as ev
from sla import names
from sla.complaint_run import ComplaintRun
from sla.deadlines import ActionKind
from sla.notices import Notice
from sla.survey_link import SurveyClaims, sign_link

log = structlog.get_logger("cxsla.survey")

EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
ContactLookup = Callable[[str], Awaitable[str | None]]


async def contact_from_history(client: Client, workflow_id: str) -> str | None:
    """The customer contact recorded when the complaint was received, from its current run's input."""
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [run] = await client.data_converter.decode(payloads, [ComplaintRun])
        received = run.events[0] if isinstance(run, ComplaintRun) and run.events else None
        return received.customer_contact if isinstance(received, ev.Received) else None
    return None


def survey_instance(notice: Notice) -> int:
    """`survey#<instance>:send` -> instance (the resolution the survey asks about)."""
    return int(notice.action_id.split("#", 1)[1].split(":", 1)[0])


class CustomerSurveySink:
    """Delivers a complaint's survey notice to its customer; every other notice is not its business."""

    channel = "customer-email"

    def __init__(self, mailer: SmtpSink, *, secret: bytes, base_url: str, valid_for: timedelta,
                 contact_of: ContactLookup | None = None) -> None:
        self._mailer = mailer
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._valid_for = valid_for
        self._contact_of = contact_of

    def link(self, notice: Notice) -> str:
        claims = SurveyClaims(complaint_id=notice.subject_id, instance=survey_instance(notice),
                              expires=notice.fired_at + self._valid_for)
        return f"{self._base_url}/survey/{sign_link(self._secret, claims)}"

    def message(self, notice: Notice, contact: str) -> EmailMessage:
        """Byte for byte the same for a retried delivery: the link expires relative to when the survey fired."""
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self._mailer.sender
        msg["To"] = contact
        msg["Subject"] = f"How did we handle your complaint {notice.subject_id}?"
        msg["Date"] = format_datetime(notice.fired_at)
        key = f"{notice.idempotency_key}/customer"
        msg["Message-ID"] = message_id(key, self._mailer.sender.rsplit("@", 1)[1])
        msg[IDEMPOTENCY_HEADER] = key
        msg["Auto-Submitted"] = "auto-generated"
        valid_days = self._valid_for.days or 1
        text = (f"Dear customer,\n\nyour complaint {notice.subject_id} has been resolved. Please tell us how we "
                f"handled it (three short questions, one minute):\n\n{self.link(notice)}\n\nThe link works once and "
                f"for {valid_days} days. Thank you.\n")
        msg.set_content(text, charset="utf-8", cte="7bit" if text.isascii() else "quoted-printable")
        return msg

    async def deliver(self, notice: Notice) -> None:
        if notice.kind is not ActionKind.SEND_SURVEY or notice.subject != "complaint":
            return
        workflow_id = names.complaint_workflow_id(notice.subject_id)
        contact = await (self._contact_of or (lambda wid: contact_from_history(activity.client(), wid)))(workflow_id)
        if not contact or not EMAIL.match(contact.strip()):
            log.info("survey not e-mailed to the customer: no e-mail contact", complaint_id=notice.subject_id)
            return
        contact = contact.strip()
        await self._mailer.send(self.message(notice, contact), [contact])
