"""E-mail notifications: one plain-text message per notification, sent over SMTP.

Recipients come from the notification's `to` (the escalation target of the policy's ladder: `team-lead`,
`supervisor`, `manager`, ...) through a route map; anything unrouted (warnings, breaches, an unknown target) goes
to the default recipients. The message holds ids, contract, clock, class and times only — never personal data
and never free text (an extension's reason, a summary): the models carry no personal data, and a warning's
detail (`50% of 2 working hours used`) is the only detail written, as in the log sink.

Retries: the `Message-ID` is derived from the idempotency key (`<workflow id>/<action id>`), and the key itself
travels in `X-Cxsla-Idempotency-Key`, so a retried activity sends the same message again with the same id and
receiving mail systems (or a filter on the header) can drop the duplicate. `Date` is the instant the action
fired, so a retried message is byte-for-byte the same. Any SMTP failure (connection, TLS, login, a 4xx/5xx
answer, a refused recipient) raises, and Temporal retries the activity with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import Literal

from activities.notifications import Notice
from sla.deadlines import ActionKind

Security = Literal["starttls", "tls", "none"]
IDEMPOTENCY_HEADER = "X-Cxsla-Idempotency-Key"
SUBJECT_PREFIX = "[cx-sla]"
# CRLF, and no folding of a long subject (RFC 5322 allows 998 characters a line): filters match it as one line.
POLICY = SMTP_POLICY.clone(max_line_length=998)


def message_id(idempotency_key: str, domain: str) -> str:
    """The same key always gives the same Message-ID (the key itself may hold characters a Message-ID can't)."""
    return f"<cxsla.{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


def subject(n: Notice) -> str:
    """`[cx-sla] BREACH acknowledge (minor) complaint T-1 / default`,
    `[cx-sla] ESCALATE acknowledge (minor) level 2 to supervisor complaint T-1 / default`,
    `[cx-sla] BREACH plan_rectification (major) improvement_plan plan-default-csat`."""
    parts = [SUBJECT_PREFIX, n.kind.value.upper()]
    if n.clock:
        parts.append(n.clock)
    if n.breach_class is not None:
        parts.append(f"({n.breach_class.value})")
    if n.kind is ActionKind.ESCALATE and n.level is not None:
        parts.append(f"level {n.level}" + (f" to {n.to}" if n.to else ""))
    if n.subject == "complaint":
        parts += ["complaint", n.subject_id, "/", n.contract]
    else:
        parts += [n.subject, n.subject_id]
    return " ".join(parts).replace("\r", " ").replace("\n", " ")


def _utc(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(timezone.utc).isoformat()


def body_fields(n: Notice) -> dict[str, str]:
    """What the body says, in order: ids, contract, clock, class, deadline and times (UTC ISO-8601). Read from
    `Notice.public()`, what every sink sends, so free text is left out here as in the log and webhook sinks."""
    p = n.public()
    fields: dict[str, str | int | None] = {"kind": p["kind"]}
    if p["subject"] == "complaint":
        fields |= {"complaint_id": p["subject_id"], "contract": p["contract"], "severity": p["severity"],
                   "assignee": p.get("assignee"), "group": p.get("group"), "clock": p["clock"]}
    else:
        fields |= {"subject": p["subject"], "subject_id": p["subject_id"], "contract": p["contract"],
                   "clock": p["clock"]}
    fields |= {
        "breach_class": p["breach_class"],
        "level": p["level"],
        "to": p["to"],
        "deadline": _utc(n.deadline),
        "due_at": _utc(n.due_at),
        "fired_at": _utc(n.fired_at),
        "detail": p["detail"],
        "action_id": p["action_id"],
        "sequence": p["sequence"],
        "idempotency_key": p["idempotency_key"],
    }
    return {k: str(v) for k, v in fields.items() if v is not None}


def body(n: Notice) -> str:
    return "".join(f"{k}: {v}\n" for k, v in body_fields(n).items())


class SmtpSink:
    """Sends each notification as one plain-text UTF-8 e-mail (stdlib `smtplib`, run in a thread).

    Args:
        host, port: the SMTP server (submission port 587 with STARTTLS, 465 with implicit TLS).
        security: `starttls` (upgrade, refuse a server that can't), `tls` (implicit TLS) or `none`.
        sender: the From address and envelope sender; its domain is the Message-ID's right part.
        default_to: recipients of everything the routes don't name (at least one).
        routes: escalation target -> recipients (`{"team-lead": ["tl@example.cn"]}`).
        username, password: log in after the TLS handshake when given.
        timeout: seconds for connecting and for each SMTP command.
        ssl_context: how to verify the server (default: system roots, hostname checked).
    """

    channel = "email"

    def __init__(
        self, host: str, *, sender: str, default_to: Sequence[str], port: int = 587,
        security: Security = "starttls", routes: Mapping[str, Sequence[str]] | None = None,
        username: str | None = None, password: str | None = None, timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"SMTP security must be starttls, tls or none, not {security!r}")
        if not default_to:
            raise ValueError("SMTP sink needs at least one default recipient")
        if "@" not in sender:
            raise ValueError(f"SMTP sender {sender!r} is not an e-mail address")
        self.host, self.port, self.security = host, port, security
        self.sender = sender
        self.default_to = _unique(default_to)
        self.routes = {target: _unique(addresses) for target, addresses in (routes or {}).items() if addresses}
        self._username, self._password = username, password
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._domain = sender.rsplit("@", 1)[1].strip(">").strip() or "cx-sla"

    def recipients(self, notification: Notice) -> list[str]:
        if notification.kind is ActionKind.DELIVER_REPORT:  # the contract's report recipients, and only them
            return _unique(notification.report_to.email) if notification.report_to else []
        routed = self.routes.get(notification.to) if notification.to else None
        return list(routed or self.default_to)

    def message(self, notification: Notice) -> EmailMessage:
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients(notification))
        msg["Subject"] = subject(notification)
        msg["Date"] = format_datetime(notification.fired_at.astimezone(timezone.utc))
        msg["Message-ID"] = message_id(notification.idempotency_key, self._domain)
        msg[IDEMPOTENCY_HEADER] = notification.idempotency_key
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the robot
        text = body(notification)  # non-ASCII only from a policy's ladder target (`主管`): 7-bit safe either way
        if notification.kind is ActionKind.DELIVER_REPORT:
            msg.replace_header("Subject", f"{SUBJECT_PREFIX} Assessment report {notification.subject_id}")
            text = "The assessment report is attached (HTML and Markdown).\n\n" + text
        msg.set_content(text, charset="utf-8", cte="7bit" if text.isascii() else "quoted-printable")
        if notification.kind is ActionKind.DELIVER_REPORT:
            for fmt, subtype in (("html", "html"), ("md", "markdown")):
                content = (notification.attachments or {}).get(fmt)
                if content is not None:
                    msg.add_attachment(content, subtype=subtype, charset="utf-8",
                                       filename=f"{notification.subject_id}.{fmt}")
        return msg

    async def deliver(self, notification: Notice) -> None:
        to = self.recipients(notification)
        if not to:
            return  # a report whose contract names no e-mail recipients
        await asyncio.to_thread(self._send, self.message(notification), to)

    async def send(self, msg: EmailMessage, to: list[str]) -> None:
        """Send a message made elsewhere (the customer's survey) through the same server and settings."""
        await asyncio.to_thread(self._send, msg, to)

    def _send(self, msg: EmailMessage, to: list[str]) -> None:
        context = self._ssl_context or ssl.create_default_context()
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)  # raises SMTPNotSupportedError rather than sending in clear
            if self._username:
                smtp.login(self._username, self._password or "")
            refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=to)
        if refused:  # some recipients accepted, some not: a retry resends to all, with the same Message-ID
            raise smtplib.SMTPRecipientsRefused(refused)


def _unique(addresses: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(a.strip() for a in addresses if a.strip()))
