"""Stateful fuzzing of real complaint workflows: hostile commands never fail a workflow task, a refused command
changes nothing, an accepted one is in the timeline.

Hypothesis drives sequences of commands against complaints running on one time-skipping server (the whole module
shares it and one worker): every field of every command takes plausible values and hostile ones (empty, at and
past the 4,000-character limit, CJK, emoji, control characters, quotes, dates in year 1, 9999, without a time
zone, far ahead, wrong types). Most go through `ComplaintClient.command`, as the CLI and the API send them; some go
straight to the update API with a dict payload, past the client's validation, so the workflow's own decoding and
validators are what refuse them. Server time moves between commands, so clocks warn, breach and escalate meanwhile.

Hypothesis's rules are synchronous; the server, worker and client live on an event loop of their own thread and
each step runs a coroutine there.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from plugin import CxSlaPlugin
from sla.commands import COMMAND_MODELS, OpenComplaint
from sla.lifecycle import COMMANDS
from sla.status import ComplaintStatus
from sla.vocabulary import ClockName, Remedy, Severity
from starter.client.complaints import ComplaintClient, workflow_id
from starter.client.errors import CxSlaError
from tests.helpers.sinks import RecordingSink
from tests.helpers.temporal import new_time_skipping_env, task_queue
from tests.histories.record import CONTRACT, assert_no_task_failures, settle, test_policy

T = TypeVar("T")
S = timedelta(seconds=1)
EVENT_TYPE = {name: cast(Any, event).model_fields["type"].default for name, (event, _) in COMMANDS.items()}


@dataclass(frozen=True)
class Later:
    """An instant relative to the server's clock when the command is sent (`until` an hour from now)."""

    offset: timedelta


@dataclass
class Rig:
    """One time-skipping server and worker for the module, on an event loop in a thread of its own."""

    loop: asyncio.AbstractEventLoop
    env: WorkflowEnvironment | None = None
    client: ComplaintClient | None = None
    now: datetime | None = None  # the server's clock, read before each open (the client stamps receipt with it)
    worker_task: asyncio.Future | None = None
    sink: RecordingSink = field(default_factory=RecordingSink)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def c(self) -> ComplaintClient:
        assert self.client is not None
        return self.client

    @property
    def e(self) -> WorkflowEnvironment:
        assert self.env is not None
        return self.env


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state = Rig(loop=loop)
    worker: Worker | None = None

    async def start() -> None:
        nonlocal worker
        state.env = await new_time_skipping_env()
        queue = task_queue()
        worker = Worker(state.env.client, task_queue=queue, plugins=[CxSlaPlugin(sink=state.sink)])
        state.worker_task = asyncio.ensure_future(worker.run())
        state.now = await state.env.get_current_time()
        state.client = ComplaintClient(state.env.client, task_queue=queue, policy=test_policy(),
                                       clock=lambda: state.now or datetime.now().astimezone())

    async def stop() -> None:
        if worker is not None:
            await worker.shutdown()
        if state.env is not None:
            await state.env.shutdown()

    state.run(start())
    try:
        yield state
    finally:
        state.run(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# ---- values ---------------------------------------------------------------------------------------------------
HOSTILE_TEXT = st.one_of(
    st.just(""), st.just(" "), st.just("x" * 4000), st.just("x" * 4001), st.just("界" * 4000), st.just("界" * 4001),
    st.just("😀" * 1000), st.just("\x00\x01\x1b[31m\r\n\t\u2028\u202e"), st.just("'\"; DROP TABLE complaints; --"),
    st.just("${jndi:ldap://x}{{7*7}}%s%n"),
    st.text(max_size=60),
)
HOSTILE_DATE = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                     "2030-01-01T00:00:00", "1999-12-31T23:59:59+00:00", "2100-12-31T23:59:59+00:00",
                     "2101-01-01T00:00:00+00:00", "not a date", "", "2026-02-30T00:00:00Z"]),
    st.sampled_from([Later(-S), Later(timedelta(0)), Later(timedelta(days=365 * 70)), Later(timedelta(days=400))]),
)
WRONG_TYPE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.just(10**400),
    st.just(-1), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just(1.5), st.just("12"), st.just("abc"),
)
HOSTILE = st.one_of(HOSTILE_TEXT, HOSTILE_DATE, WRONG_TYPE)

PLAUSIBLE: dict[str, st.SearchStrategy] = {
    "by": st.sampled_from(["amy", "主管 王", None]),
    "note": st.sampled_from(["called the customer", "已致电客户", None]),
    "category": st.sampled_from(["billing", None]),
    "plan": st.just("refund within a week"),
    "reason": st.sampled_from(["waiting for parts", "客户要求延期"]),
    "resolution": st.just("refunded"),
    "remedy": st.sampled_from([None, *(r.value for r in Remedy)]),
    "first_contact": st.booleans(),
    "at_fault": st.booleans(),
    "handling_seconds": st.sampled_from([None, 0, 600, 30 * 86_400]),
    "severity": st.sampled_from([s.value for s in Severity]),
    "clock": st.sampled_from([c.value for c in ClockName]),
    "until": st.sampled_from([Later(timedelta(minutes=10)), Later(timedelta(hours=2)), Later(timedelta(days=3))]),
    "csat": st.integers(1, 5),
    "nps": st.sampled_from([None, 0, 10]),
    "ces": st.sampled_from([None, 1, 7]),
    "comment": st.sampled_from([None, "很好 👍"]),
    "to": st.sampled_from(["amy", "sam@desk", None]),
    "group": st.sampled_from(["billing", None]),
}


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True one time in n (hypothesis favours the ends of an integer range; a sample is drawn evenly) and False
    when shrinking, so a failure shrinks towards plausible values."""
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def payloads(draw, name: str, hostility: int) -> dict[str, Any]:
    """A command's fields: each plausible, or (one chance in `hostility`) hostile; now and then an unknown one."""
    body: dict[str, Any] = {}
    model = COMMAND_MODELS[name]
    for key, info in model.model_fields.items():
        if draw(one_in(hostility)):
            body[key] = draw(HOSTILE)
        elif info.is_required() or not draw(one_in(4)):
            body[key] = draw(PLAUSIBLE[key])
    if draw(one_in(10)):
        body[draw(st.sampled_from(["extra", "type", "at", "id"]))] = draw(HOSTILE)
    return body


def resolved(body: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {k: (now + v.offset).isoformat() if isinstance(v, Later) else v for k, v in body.items()}


# ---- the machine ----------------------------------------------------------------------------------------------
class Complaints(RuleBasedStateMachine):
    rig: Rig
    tally: list[tuple[int, int]] = []  # (accepted, refused) of each example

    def __init__(self) -> None:
        super().__init__()
        self.cid = ""
        self.accepted = self.refused = 0

    # Everything below runs on the rig's loop.
    async def _clear_of_timers(self) -> datetime:
        """Settle, then move past a timer due within a second: a command racing a timer both times the refusal
        check badly (the timer appends its own events) and can trip the test server (see record.command)."""
        env, c = self.rig.e, self.rig.c
        await settle(env, self.cid)
        status = await c.status(self.cid)
        now = await env.get_current_time()
        if status.next_due_at is not None and timedelta(0) <= status.next_due_at - now < S:
            await env.sleep(status.next_due_at - now + 0.2 * S)
            await settle(env, self.cid)
            now = await env.get_current_time()
        return now

    async def _send(self, name: str, body: dict[str, Any], raw: bool) -> None:
        c = self.rig.c
        now = await self._clear_of_timers()
        before = await c.status(self.cid)
        payload = resolved(body, now)
        try:
            if raw:
                handle = c.client.get_workflow_handle(workflow_id(self.cid))
                await handle.execute_update(name, payload, result_type=ComplaintStatus)
            else:
                await c.command(self.cid, name, payload)
        except RPCError as exc:  # only the raw path sees these: the client turns them into CxSlaError
            assert raw and before.state.terminal, f"{name} {payload!r}: {exc}"
            self.refused += 1
            return
        except (CxSlaError, WorkflowUpdateFailedError) as exc:
            message = str(exc.cause if isinstance(exc, WorkflowUpdateFailedError) and exc.cause else exc)
            assert message.strip(), f"{name} refused without a reason"
            assert "errors.pydantic.dev" not in message, message
            after = await c.status(self.cid)
            assert (after.state, after.severity, after.timeline) == (before.state, before.severity, before.timeline), (
                f"refused {name} {payload!r} ({message}) changed the complaint")
            self.refused += 1
            return
        after = await c.status(self.cid)
        added = [entry["type"] for entry in after.timeline[len(before.timeline):]]
        assert EVENT_TYPE[name] in added, f"accepted {name} {payload!r} is not in the timeline: {added}"
        self.accepted += 1

    # Rules.
    @initialize(severity=st.sampled_from([s.value for s in Severity]))
    def open(self, severity: str) -> None:
        self.cid = f"fz-{uuid.uuid4().hex[:10]}"

        async def go() -> None:
            self.rig.now = await self.rig.e.get_current_time()
            opened = await self.rig.c.open(OpenComplaint(id=self.cid, contract=CONTRACT, severity=severity))
            assert opened.created

        self.rig.run(go())

    @rule(data=st.data(), name=st.sampled_from(list(COMMAND_MODELS)), hostility=st.sampled_from([3, 100, 100, 100]))
    def command(self, data: st.DataObject, name: str, hostility: int) -> None:
        self.rig.run(self._send(name, data.draw(payloads(name, hostility)), raw=False))

    @rule(data=st.data(), hostility=st.sampled_from([3, 100]))
    def next_command(self, data: st.DataObject, hostility: int) -> None:
        """A command the complaint's state allows, so sequences reach resolution, reopening and feedback."""
        state = self.rig.run(self.rig.c.status(self.cid)).state
        allowed = [name for name, (_, states) in COMMANDS.items() if state in states]
        if allowed:
            name = data.draw(st.sampled_from(allowed))
            self.rig.run(self._send(name, data.draw(payloads(name, hostility)), raw=False))

    @rule(data=st.data(), name=st.sampled_from(list(COMMAND_MODELS)))
    def raw_update(self, data: st.DataObject, name: str) -> None:
        """Wrong types past the client: the worker decodes the payload and its validator refuses it."""
        body = data.draw(payloads(name, 2))
        key = data.draw(st.sampled_from(sorted(COMMAND_MODELS[name].model_fields)))
        body[key] = data.draw(WRONG_TYPE)
        self.rig.run(self._send(name, body, raw=True))

    @rule(name=st.sampled_from(list(COMMAND_MODELS)), cid=st.sampled_from(["no'such\"id", "", "界", "a" * 300]))
    def unknown_complaint(self, name: str, cid: str) -> None:
        async def go() -> None:
            with pytest.raises(CxSlaError):
                await self.rig.c.command(cid, name, {})

        self.rig.run(go())

    @rule(seconds=st.sampled_from([0.5, 3, 7, 15, 45, 120]))
    def time_passes(self, seconds: float) -> None:
        async def go() -> None:
            await self.rig.e.sleep(seconds * S)
            await settle(self.rig.e, self.cid)

        self.rig.run(go())

    @invariant()
    def no_workflow_task_failed(self) -> None:
        if self.cid:
            self.rig.run(assert_no_task_failures(self.rig.c.client, self.cid))

    def teardown(self) -> None:
        """Ended, so its timers do not keep the shared server busy in later examples."""
        self.tally.append((self.accepted, self.refused))
        if self.cid:
            async def go() -> None:
                await self.rig.c.client.get_workflow_handle(workflow_id(self.cid)).terminate("fuzz example over")

            try:
                self.rig.run(go())
            except Exception:  # noqa: BLE001 - already closed or withdrawn
                pass


def test_hostile_commands_never_fail_a_workflow_task(rig: Rig) -> None:
    Complaints.rig = rig
    run_state_machine_as_test(Complaints, settings=settings(
        max_examples=20, stateful_step_count=15, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck)))
    accepted, refused = (sum(counts) for counts in zip(*Complaints.tally, strict=True))
    print(f"{len(Complaints.tally)} examples: {accepted} commands accepted, {refused} refused")
    assert accepted and refused  # the values reach both sides of every validator
