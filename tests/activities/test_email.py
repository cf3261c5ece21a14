"""SmtpSink against a real SMTP server on loopback (aiosmtpd): routing, fallback, subject, a body without free
text, a stable Message-ID, STARTTLS with login and implicit TLS, 4xx/5xx answers raising; end to end a breached
complaint's escalations arriving at the routed addresses once each; FanoutSink; the SMTP settings."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from activities.email import IDEMPOTENCY_HEADER, SmtpSink
from activities.notifications import FanoutSink, LogSink, Notice, WebhookSink
from sla.commands import OpenComplaint
from sla.deadlines import ActionKind
from sla.vocabulary import BreachClass, ClockName
from starter.client.complaints import ComplaintClient, workflow_id
from starter.service import worker_runtime
from starter.service.settings import Settings
from tests.helpers.temporal import cxsla_worker
from tests.histories.record import CONTRACT, assert_no_task_failures, settle, test_policy

S = timedelta(seconds=1)
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
DESK, TEAM_LEAD, SUPERVISOR, BOSS = "desk@cx.example.cn", "tl@cx.example.cn", "sup@cx.example.cn", "boss@cx.example.cn"
SENDER = "cx-sla@alerts.example.cn"
ROUTES = {"team-lead": [TEAM_LEAD], "supervisor": [SUPERVISOR, BOSS]}  # manager: not routed, goes to DESK
DIRECTOR = "director@cx.example.cn"  # a ladder target written in Chinese, "客服总监"


# ---- a real SMTP server on loopback, in the test's event loop (smtplib runs in a thread) ----------------------
@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    answered: str

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def header(self, name: str) -> str:
        return str(self.message[name])


@dataclass
class MailServer:
    port: int = 0
    data_answers: list[str] = field(default_factory=list)  # answers to DATA first, then 250
    refuse: set[str] = field(default_factory=set)  # recipients answered 550 at RCPT
    mails: list[Mail] = field(default_factory=list)  # every message sent (accepted or not)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    def accepted(self) -> list[Mail]:
        return [m for m in self.mails if m.answered.startswith("250")]

    def by_key(self, key: str) -> list[Mail]:
        return [m for m in self.accepted() if m.header(IDEMPOTENCY_HEADER) == key]

    # aiosmtpd handler hooks
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        answer = self.data_answers.pop(0) if self.data_answers else "250 OK queued"
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, answer))
        return answer


@asynccontextmanager
async def smtp_server(*, implicit_tls: ssl.SSLContext | None = None, starttls: ssl.SSLContext | None = None,
                      password: bytes | None = None) -> AsyncIterator[MailServer]:
    box = MailServer()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == password
        if ok:
            box.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    def protocol() -> SMTP:
        return SMTP(box, hostname="mx.test", tls_context=starttls, require_starttls=starttls is not None,
                    authenticator=authenticator if password else None, auth_required=password is not None,
                    auth_require_tls=True)

    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0, ssl=implicit_tls)
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    async with smtp_server() as box:
        yield box


def plain_sink(box: MailServer, **kw) -> SmtpSink:
    return SmtpSink("127.0.0.1", port=box.port, security="none", sender=SENDER, default_to=[DESK],
                    routes=ROUTES, timeout=5, **kw)


def notification(kind: ActionKind = ActionKind.BREACH, *, to: str | None = None, level: int | None = None,
                 detail: str | None = None, complaint: str = "T-1", action: str | None = None) -> Notice:
    action = action or {ActionKind.BREACH: "acknowledge#1:breach", ActionKind.WARN: "acknowledge#1:warn:50",
                        ActionKind.ESCALATE: f"acknowledge#1:escalate:{level}",
                        ActionKind.NOTIFY_EXTENSION: "acknowledge#1:extended:1"}[kind]
    return Notice(
        idempotency_key=f"complaint-{complaint}/{action}", action_id=action, kind=kind, complaint_id=complaint,
        contract="default", severity="major", clock=ClockName.ACKNOWLEDGE.value, level=level, to=to,
        breach_class=BreachClass.MINOR if kind in (ActionKind.BREACH, ActionKind.ESCALATE) else None,
        deadline=T0 + timedelta(hours=2), due_at=T0 + timedelta(hours=2), fired_at=T0 + timedelta(hours=2, seconds=1),
        detail=detail,
    )


def body_lines(mail: Mail) -> dict[str, str]:
    text = mail.message.get_content()
    lines = text.splitlines()
    assert all(re.fullmatch(r"[a-z_]+: \S.*", line) for line in lines), text
    return dict(line.split(": ", 1) for line in lines)


# ---- SmtpSink directly --------------------------------------------------------------------------------------
async def test_a_breach_goes_to_the_default_recipient_with_subject_headers_and_a_field_only_body(mail):
    await plain_sink(mail).deliver(notification())
    [m] = mail.accepted()
    assert (m.mail_from, m.rcpt_tos) == (SENDER, [DESK])
    msg = m.message
    assert msg["Subject"] == "[cx-sla] BREACH acknowledge (minor) complaint T-1 / default"
    assert (msg["From"], msg["To"]) == (SENDER, DESK)
    assert msg[IDEMPOTENCY_HEADER] == "complaint-T-1/acknowledge#1:breach"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    assert re.fullmatch(r"<cxsla\.[0-9a-f]{40}@alerts\.example\.cn>", msg["Message-ID"])
    assert body_lines(m) == {
        "kind": "breach", "complaint_id": "T-1", "contract": "default", "severity": "major",
        "clock": "acknowledge", "breach_class": "minor",
        "deadline": "2026-11-02T03:00:00+00:00", "due_at": "2026-11-02T03:00:00+00:00",
        "fired_at": "2026-11-02T03:00:01+00:00",
        "action_id": "acknowledge#1:breach", "idempotency_key": "complaint-T-1/acknowledge#1:breach",
    }


async def test_escalations_go_to_their_routes_and_an_unrouted_target_falls_back_to_the_default(mail):
    sink = SmtpSink("127.0.0.1", port=mail.port, security="none", sender=SENDER, default_to=[DESK], timeout=5,
                    routes={**ROUTES, "客服总监": [DIRECTOR]})
    for level, to in [(1, "team-lead"), (2, "supervisor"), (3, "manager"), (4, "客服总监")]:
        await sink.deliver(notification(ActionKind.ESCALATE, level=level, to=to))
    team_lead, supervisor, manager, director = mail.accepted()
    assert team_lead.rcpt_tos == [TEAM_LEAD]
    assert supervisor.rcpt_tos == [SUPERVISOR, BOSS] and supervisor.header("To") == f"{SUPERVISOR}, {BOSS}"
    assert manager.rcpt_tos == [DESK]
    assert director.rcpt_tos == [DIRECTOR] and director.raw.isascii()  # 7-bit on the wire, UTF-8 decoded
    assert director.header("Subject") == (
        "[cx-sla] ESCALATE acknowledge (minor) level 4 to 客服总监 complaint T-1 / default")
    assert body_lines(director)["to"] == "客服总监"
    assert supervisor.header("Subject") == (
        "[cx-sla] ESCALATE acknowledge (minor) level 2 to supervisor complaint T-1 / default")
    assert body_lines(supervisor)["to"] == "supervisor" and body_lines(supervisor)["level"] == "2"


async def test_free_text_stays_out_of_the_mail_and_a_warning_keeps_the_engines_detail(mail):
    reason = "customer Zhang Wei (+86 138 0000 0000) asked for a site visit"
    await plain_sink(mail).deliver(notification(ActionKind.NOTIFY_EXTENSION, detail=reason))
    await plain_sink(mail).deliver(notification(ActionKind.WARN, detail="50% of 2 working hours used"))
    extension, warning = mail.accepted()
    assert "detail" not in body_lines(extension)
    for needle in ("Zhang", "+86", "site visit"):
        assert needle.encode() not in extension.raw
    assert body_lines(warning)["detail"] == "50% of 2 working hours used"
    assert warning.header("Subject") == "[cx-sla] WARN acknowledge complaint T-1 / default"


async def test_a_notice_names_its_subject(mail):
    notice = Notice(
        idempotency_key="plan-default-csat/plan_rectification#1:breach", action_id="plan_rectification#1:breach",
        kind=ActionKind.BREACH, subject="improvement_plan", subject_id="plan-default-csat", contract="default",
        clock="plan_rectification", breach_class=BreachClass.MAJOR, deadline=T0, due_at=T0, fired_at=T0 + S,
    )
    await plain_sink(mail).deliver(notice)
    [m] = mail.accepted()
    assert m.header("Subject") == "[cx-sla] BREACH plan_rectification (major) improvement_plan plan-default-csat"
    assert m.rcpt_tos == [DESK]
    lines = body_lines(m)
    assert (lines["subject"], lines["subject_id"], lines["clock"], lines["breach_class"]) == (
        "improvement_plan", "plan-default-csat", "plan_rectification", "major")


async def test_the_same_notification_delivered_twice_carries_the_same_message_id(mail):
    sink = plain_sink(mail)
    await sink.deliver(notification())
    await plain_sink(mail).deliver(notification())  # another worker process, same configuration
    await sink.deliver(notification(complaint="T-2"))
    first, again, other = mail.accepted()
    assert first.header("Message-ID") == again.header("Message-ID")
    assert first.raw == again.raw  # Date is the firing instant: a retry is the same message
    assert other.header("Message-ID") != first.header("Message-ID")


@pytest.mark.parametrize("answer", ["451 4.3.0 mailbox busy, try later", "554 5.7.1 rejected by policy"])
async def test_a_server_that_answers_4xx_or_5xx_makes_deliver_raise(mail, answer):
    mail.data_answers = [answer]
    with pytest.raises(Exception, match=answer.split()[0]):
        await plain_sink(mail).deliver(notification())
    assert mail.accepted() == []
    await plain_sink(mail).deliver(notification())  # the retry gets through
    assert len(mail.accepted()) == 1


async def test_a_refused_recipient_or_an_unreachable_server_makes_deliver_raise(mail):
    mail.refuse = {BOSS}
    with pytest.raises(Exception, match="no such mailbox"):
        await plain_sink(mail).deliver(notification(ActionKind.ESCALATE, level=2, to="supervisor"))
    async with smtp_server() as gone:
        port = gone.port
    sink = SmtpSink("127.0.0.1", port=port, security="none", sender=SENDER, default_to=[DESK], timeout=2)
    with pytest.raises(OSError):
        await sink.deliver(notification())


# ---- TLS: STARTTLS with login, implicit TLS, and no silent downgrade ---------------------------------------
@dataclass
class Pki:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    now = datetime.now(timezone.utc)

    def cert(name: str, key, issuer=None, *, ca: bool):
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
             .not_valid_after(now + timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                              content_commitment=False, key_encipherment=False,
                                              data_encipherment=False, key_agreement=False, encipher_only=False,
                                              decipher_only=False), critical=True)
        else:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("cx-sla mail test CA", ca_key, ca=True)
    leaf = cert("127.0.0.1", key, (ca, ca_key), ca=False)
    tmp = tmp_path_factory.mktemp("smtp-pki")
    (tmp / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return Pki(server=server, client=client)


async def test_starttls_with_login_delivers_and_a_wrong_password_raises(pki):
    async with smtp_server(starttls=pki.server, password=b"p4ss") as box:
        def sink(password: str) -> SmtpSink:
            return SmtpSink("127.0.0.1", port=box.port, security="starttls", sender=SENDER, default_to=[DESK],
                            username="cxsla", password=password, ssl_context=pki.client, timeout=5)

        await sink("p4ss").deliver(notification())
        assert len(box.accepted()) == 1 and box.logins == [(b"cxsla", b"p4ss")]
        with pytest.raises(Exception, match="535|[Aa]uthentication"):
            await sink("wrong").deliver(notification())
        assert len(box.accepted()) == 1
        # the system roots do not know this test CA: verification is on, nothing goes out
        unverified = SmtpSink("127.0.0.1", port=box.port, security="starttls", sender=SENDER, default_to=[DESK],
                              username="cxsla", password="p4ss", timeout=5)
        with pytest.raises(ssl.SSLError):
            await unverified.deliver(notification())
        assert len(box.accepted()) == 1


async def test_implicit_tls_delivers_and_starttls_refuses_a_server_without_it(pki, mail):
    async with smtp_server(implicit_tls=pki.server) as box:
        await SmtpSink("127.0.0.1", port=box.port, security="tls", sender=SENDER, default_to=[DESK],
                       ssl_context=pki.client, timeout=5).deliver(notification())
        assert [m.rcpt_tos for m in box.accepted()] == [[DESK]]
    plain_server_asked_for_starttls = SmtpSink("127.0.0.1", port=mail.port, security="starttls", sender=SENDER,
                                               default_to=[DESK], ssl_context=pki.client, timeout=5)
    with pytest.raises(Exception, match="STARTTLS"):
        await plain_server_asked_for_starttls.deliver(notification())
    assert mail.mails == []


# ---- FanoutSink ---------------------------------------------------------------------------------------------
class Failing:
    channel = "broken"

    def __init__(self) -> None:
        self.calls = 0

    async def deliver(self, notification) -> None:
        self.calls += 1
        raise RuntimeError("receiver down")


async def test_fanout_tries_every_sink_then_raises_naming_the_failed_one(mail):
    broken = Failing()
    fanout = FanoutSink([broken, plain_sink(mail)])
    with pytest.raises(RuntimeError, match=r"1 of 2 sinks failed: 0:broken: RuntimeError: receiver down"):
        await fanout.deliver(notification())
    assert broken.calls == 1 and len(mail.accepted()) == 1  # the healthy sink after the failed one still got it
    assert fanout.channel == "broken+email"


# ---- end to end: ComplaintWorkflow on the time-skipping server ----------------------------------------------
def server_clock(now: datetime) -> Callable[[], datetime]:
    return lambda: now


@asynccontextmanager
async def complaint(env, sink, severity: str = "major") -> AsyncIterator[tuple[str, datetime]]:
    """One complaint on its own queue, received at the (shared) server's current time; terminated at the end so
    nothing is left waiting for a worker on the session's server."""
    cid = f"mail-{uuid.uuid4().hex[:10]}"
    async with cxsla_worker(env.client, sink=sink) as queue:
        c = ComplaintClient(env.client, task_queue=queue, policy=test_policy(),
                            clock=server_clock(await env.get_current_time()))
        received = (await c.open(OpenComplaint(id=cid, contract=CONTRACT, severity=severity))).status.received_at
        try:
            yield cid, received
        finally:
            await env.client.get_workflow_handle(workflow_id(cid)).terminate("test over")


async def test_a_breached_complaint_mails_the_breach_and_each_escalation_once_to_its_routed_addresses(
    time_skipping_env, mail,
):
    env = time_skipping_env
    async with complaint(env, plain_sink(mail)) as (cid, received):
        # fast contract: acknowledge warns at 5 s and 8 s, breaches at 10 s; ladder +0 s team-lead, +5 s
        # supervisor, +10 s manager
        await env.sleep(received + 22.5 * S - await env.get_current_time())
        await settle(env, cid)

        keys = [m.header(IDEMPOTENCY_HEADER) for m in mail.accepted()]
        assert len(keys) == len(set(keys)), "a notification was mailed twice"
        assert all(m.mail_from == SENDER for m in mail.accepted())
        # keys are <workflow id>/<first run id>/<action id>
        ack = {m.header(IDEMPOTENCY_HEADER).rsplit("/", 1)[1]: m for m in mail.accepted()
               if m.header(IDEMPOTENCY_HEADER).startswith(f"{workflow_id(cid)}/")
               and m.header(IDEMPOTENCY_HEADER).rsplit("/", 1)[1].startswith("acknowledge#1:")}
        assert {a: m.rcpt_tos for a, m in ack.items()} == {
            "acknowledge#1:warn:50": [DESK],
            "acknowledge#1:warn:80": [DESK],
            "acknowledge#1:breach": [DESK],
            "acknowledge#1:escalate:1": [TEAM_LEAD],
            "acknowledge#1:escalate:2": [SUPERVISOR, BOSS],
            "acknowledge#1:escalate:3": [DESK],  # manager is not routed: the default recipient
        }
        assert ack["acknowledge#1:breach"].header("Subject") == (
            f"[cx-sla] BREACH acknowledge (minor) complaint {cid} / {CONTRACT}")
        breach = body_lines(ack["acknowledge#1:breach"])
        assert datetime.fromisoformat(breach["deadline"]) == received + 10 * S
        assert breach["severity"] == "major" and breach["complaint_id"] == cid
        await assert_no_task_failures(env.client, cid)


async def test_a_fanout_retry_delivers_to_the_failed_sink_without_repeating_the_healthy_one(time_skipping_env):
    env = time_skipping_env
    async with smtp_server() as healthy, smtp_server() as flaky:
        flaky.data_answers = ["451 4.3.0 try again later"]
        fanout = FanoutSink([
            SmtpSink("127.0.0.1", port=healthy.port, security="none", sender=SENDER, default_to=[DESK], timeout=5),
            SmtpSink("127.0.0.1", port=flaky.port, security="none", sender=SENDER, default_to=[DESK], timeout=5),
        ])
        async with complaint(env, fanout, severity="normal") as (cid, received):
            await env.sleep(received + 5.5 * S - await env.get_current_time())  # acknowledge warn:50 at 5 s
            await settle(env, cid)
            key = next(m.header(IDEMPOTENCY_HEADER) for m in flaky.mails
                       if m.header(IDEMPOTENCY_HEADER).endswith("/acknowledge#1:warn:50"))
            assert key.startswith(f"{workflow_id(cid)}/")
            rejected, delivered = [m for m in flaky.mails if m.header(IDEMPOTENCY_HEADER) == key]
            assert rejected.answered.startswith("451") and delivered.answered.startswith("250")
            assert rejected.header("Message-ID") == delivered.header("Message-ID")
            assert len(healthy.by_key(key)) == 1  # the retry skipped the sink that had delivered
            await assert_no_task_failures(env.client, cid)


# ---- settings and the worker's choice of sink ---------------------------------------------------------------
SMTP_ENV = ["CXSLA_WEBHOOK_URL", "CXSLA_WEBHOOK_SECRET", "CXSLA_SMTP_HOST", "CXSLA_SMTP_PORT", "CXSLA_SMTP_SECURITY",
            "CXSLA_SMTP_USER", "CXSLA_SMTP_PASSWORD", "CXSLA_SMTP_FROM", "CXSLA_SMTP_TO", "CXSLA_SMTP_ROUTES"]


@pytest.fixture
def env_vars(monkeypatch) -> Callable[..., Settings]:
    for name in SMTP_ENV:
        monkeypatch.delenv(name, raising=False)

    def settings(**variables: str) -> Settings:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return Settings(_env_file=None)

    return settings


def test_smtp_settings_are_read_from_the_environment(env_vars):
    s = env_vars(CXSLA_SMTP_HOST="smtp.example.cn", CXSLA_SMTP_FROM=SENDER, CXSLA_SMTP_TO=f"{DESK}, ops@x.cn",
                 CXSLA_SMTP_ROUTES=f"team-lead={TEAM_LEAD}, supervisor={SUPERVISOR};{BOSS},客服总监={DIRECTOR}",
                 CXSLA_SMTP_USER="cxsla", CXSLA_SMTP_PASSWORD="p4ss")
    assert s.smtp_to == (DESK, "ops@x.cn")
    assert s.smtp_routes == {"team-lead": (TEAM_LEAD,), "supervisor": (SUPERVISOR, BOSS), "客服总监": (DIRECTOR,)}
    assert (s.smtp_security, s.smtp_port_or_default, s.smtp_user) == ("starttls", 587, "cxsla")
    assert "p4ss" not in repr(s)
    assert env_vars(CXSLA_SMTP_SECURITY="tls").smtp_port_or_default == 465
    assert env_vars(CXSLA_SMTP_PORT="2525").smtp_port_or_default == 2525


@pytest.mark.parametrize("routes, message", [
    ("team-lead", "cannot read 'team-lead'"),
    ("team-lead=", "'team-lead' has no address"),
    (f"supervisor={SUPERVISOR},{BOSS}", "cannot read 'boss@"),  # a comma where a semicolon belongs
    (f"team-lead={TEAM_LEAD},team-lead={BOSS}", "'team-lead' is routed twice"),
    (f"={TEAM_LEAD}", "cannot read"),
    (f"team lead={TEAM_LEAD}", "cannot read"),
    ("team-lead=not-an-address", "'not-an-address' is not an e-mail address"),
])
def test_a_malformed_route_map_is_refused_naming_the_setting(env_vars, routes, message):
    with pytest.raises(ValidationError) as err:
        env_vars(CXSLA_SMTP_ROUTES=routes)
    assert "CXSLA_SMTP_ROUTES" in str(err.value) and message in str(err.value)


@pytest.mark.parametrize("variables, names", [
    ({"CXSLA_SMTP_HOST": "smtp.example.cn"}, ["CXSLA_SMTP_FROM and CXSLA_SMTP_TO"]),
    ({"CXSLA_SMTP_HOST": "h", "CXSLA_SMTP_FROM": SENDER, "CXSLA_SMTP_TO": "desk"}, ["CXSLA_SMTP_TO", "'desk'"]),
    ({"CXSLA_SMTP_HOST": "h", "CXSLA_SMTP_FROM": "a@x.cn,b@x.cn", "CXSLA_SMTP_TO": DESK}, ["CXSLA_SMTP_FROM"]),
    ({"CXSLA_SMTP_HOST": "h", "CXSLA_SMTP_FROM": SENDER, "CXSLA_SMTP_TO": DESK, "CXSLA_SMTP_USER": "u"},
     ["CXSLA_SMTP_PASSWORD"]),
    ({"CXSLA_SMTP_SECURITY": "ssl"}, ["CXSLA_SMTP_SECURITY"]),
])
def test_incomplete_or_wrong_smtp_settings_are_refused_naming_the_setting(env_vars, variables, names):
    with pytest.raises(ValidationError) as err:
        env_vars(**variables)
    assert all(name in str(err.value) for name in names), str(err.value)


def test_the_worker_logs_only_when_nothing_is_configured_and_fans_out_when_both_are(env_vars):
    assert isinstance(worker_runtime.notification_sink(env_vars()), LogSink)
    assert isinstance(worker_runtime.notification_sink(env_vars(CXSLA_WEBHOOK_URL="http://127.0.0.1:9/h")), WebhookSink)

    both = worker_runtime.notification_sink(env_vars(
        CXSLA_SMTP_HOST="smtp.example.cn", CXSLA_SMTP_FROM=SENDER, CXSLA_SMTP_TO=DESK, CXSLA_SMTP_SECURITY="tls",
        CXSLA_SMTP_ROUTES=f"team-lead={TEAM_LEAD}", CXSLA_SMTP_USER="cxsla", CXSLA_SMTP_PASSWORD="p4ss"))
    assert isinstance(both, FanoutSink)
    webhook, smtp = both.sinks
    assert isinstance(webhook, WebhookSink) and webhook.url == "http://127.0.0.1:9/h"
    assert isinstance(smtp, SmtpSink)
    assert (smtp.host, smtp.port, smtp.security, smtp.sender) == ("smtp.example.cn", 465, "tls", SENDER)
    assert smtp.default_to == [DESK] and smtp.routes == {"team-lead": [TEAM_LEAD]}
    assert both.channel == "webhook+email"

    assert isinstance(worker_runtime.notification_sink(env_vars(CXSLA_WEBHOOK_URL="")), SmtpSink)  # e-mail only
