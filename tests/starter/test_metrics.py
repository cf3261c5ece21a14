"""Domain metrics count each fact exactly once: checked against the complaint's own status, under a worker that
replays the whole history on every task (no workflow cache), across continue-as-new, and by replaying recorded
histories with a metrics runtime (which must record nothing)."""

from __future__ import annotations

from collections import Counter

from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_HISTOGRAM,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)
from temporalio.worker import Replayer, Worker

from plugin import CxSlaPlugin
from sla import commands as cmd
from sla.commands import OpenComplaint
from sla.policy import parse_policy
from sla.status import ComplaintStatus
from sla.vocabulary import ClockState
from starter.client.complaints import ComplaintClient, workflow_id
from tests.helpers.e2e import until
from tests.helpers.temporal import task_queue
from tests.histories import record
from workflows import metrics as m
from workflows.complaint import ComplaintWorkflow

# Added by the SDK to everything from workflow.metric_meter(): bounded, never an id.
SDK_LABELS = {"service_name", "namespace", "task_queue", "workflow_type"}


class Recorded:
    """Counters summed and histogram observations collected from a MetricBuffer, by (name, labels)."""

    def __init__(self) -> None:
        self.counters: Counter = Counter()
        self.observations: dict[tuple, list[float]] = {}

    def take(self, buffer: MetricBuffer) -> int:
        """Fold in the pending updates of cx-sla metrics; returns how many there were."""
        taken = 0
        for update in buffer.retrieve_updates():
            name = update.metric.name
            if not name.startswith("cxsla_"):
                continue
            taken += 1
            key = (name, frozenset((k, v) for k, v in update.attributes.items() if k not in SDK_LABELS))
            if update.metric.kind == BUFFERED_METRIC_KIND_COUNTER:
                assert isinstance(update.value, int), update  # counters count
                self.counters[key] += update.value
            elif update.metric.kind == BUFFERED_METRIC_KIND_HISTOGRAM:
                self.observations.setdefault(key, []).append(update.value)
        return taken

    def count(self, spec: m.MetricSpec, **labels: str) -> int:
        return sum(v for (name, attrs), v in self.counters.items()
                   if name == spec.name and set(labels.items()) <= set(attrs))

    def observed(self, spec: m.MetricSpec) -> list[float]:
        return [v for (name, _), values in self.observations.items() if name == spec.name for v in values]

    def label_sets(self) -> dict[str, set[frozenset]]:
        sets: dict[str, set[frozenset]] = {}
        for name, attrs in [*self.counters, *self.observations]:
            sets.setdefault(name, set()).add(frozenset(k for k, _ in attrs))
        return sets


def buffered_runtime() -> tuple[Runtime, MetricBuffer]:
    buffer = MetricBuffer(100_000, duration_format=MetricBufferDurationFormat.SECONDS)
    return Runtime(telemetry=TelemetryConfig(metrics=buffer)), buffer


def expected_from_status(status: ComplaintStatus) -> dict:
    """What the counters must say, derived independently from the complaint's final status."""
    outcomes: Counter[tuple[str, str]] = Counter()
    for clock in status.clocks:
        if clock.state in (ClockState.MET, ClockState.BREACHED):
            outcomes[(clock.name.value, "met" if clock.state is ClockState.MET else "breached")] += 1
    return {
        "outcomes": outcomes,
        "breaches": Counter((b.clock.value, b.breach_class.value) for b in status.breaches),
        "escalations": Counter((e.clock.value, str(e.level)) for e in status.escalations),
        "warnings": sum(len(c.warned) for c in status.clocks),
    }


def assert_counts_match(recorded: Recorded, status: ComplaintStatus) -> None:
    expected = expected_from_status(status)
    labels = {"contract": status.contract}
    assert recorded.count(m.OPENED, **labels) == 1
    assert recorded.count(m.CLOSED, **labels) == 1
    for (clock, outcome), n in expected["outcomes"].items():
        assert recorded.count(m.CLOCK_OUTCOMES, clock=clock, outcome=outcome, **labels) == n, (clock, outcome)
    assert recorded.count(m.CLOCK_OUTCOMES, **labels) == sum(expected["outcomes"].values())
    for (clock, klass), n in expected["breaches"].items():
        assert recorded.count(m.BREACHES, clock=clock, **{"class": klass}, **labels) == n
    assert recorded.count(m.BREACHES, **labels) == len(status.breaches)
    for (clock, level), n in expected["escalations"].items():
        assert recorded.count(m.ESCALATIONS, clock=clock, level=level, **labels) == n
    assert recorded.count(m.ESCALATIONS, **labels) == len(status.escalations)
    assert recorded.count(m.WARNINGS, **labels) == expected["warnings"]


SECOND_SCALE = {
    "version": "metrics-1",
    "calendars": {"24x7": {"timezone": "UTC"}},
    "contracts": {
        "quick": {
            "calendar": "24x7",
            "warn_at": [0.5],
            "survey_window": "PT1H",
            "escalation": [{"after": "PT0S", "to": "team-lead"}, {"after": "PT1S", "to": "supervisor"}],
            "targets": {"acknowledge": "PT2S", "triage": "PT1H", "handling_plan": "PT1H",
                        "progress_update": "PT1H", "resolve": "PT2H", "notify_result": "PT1H", "survey": "PT1H"},
        }
    },
}


async def test_each_fact_counted_once_though_every_task_replays_the_whole_history(dev_env):
    """Dev server, real time: a worker without a workflow cache rebuilds the complaint from history on every task
    (as after a restart), and the complaint continues as new every 3 events; each fact still counts once."""
    runtime, buffer = buffered_runtime()
    recorded = Recorded()
    metrics_client = await Client.connect(
        dev_env.client.service_client.config.target_host, namespace=dev_env.client.namespace,
        plugins=[CxSlaPlugin()], runtime=runtime,
    )
    queue = task_queue()
    cid = f"metrics-{queue}"
    async with Worker(metrics_client, task_queue=queue, max_cached_workflows=0):
        client = ComplaintClient(dev_env.client, task_queue=queue, policy=parse_policy(SECOND_SCALE))
        await client.open(OpenComplaint(id=cid, contract="quick", severity="major", channel="phone"),
                          continue_as_new_after_events=3)
        await until(lambda: _escalated(client, cid, 2), 30, "acknowledge breach and both escalation steps")
        for name, command in [
            ("acknowledge", cmd.Acknowledge()), ("triage", cmd.Triage()), ("communicate_plan", cmd.CommunicatePlan()),
            ("post_progress", cmd.PostProgress()), ("resolve", cmd.Resolve(resolution="refunded")),
            ("notify_result", cmd.NotifyResult()),
        ]:
            await client.command(cid, name, command)
        await until(lambda: _survey_sent(client, cid), 30, "survey sent")
        await client.command(cid, "record_feedback", cmd.RecordFeedback(csat=5))
        final = await dev_env.client.get_workflow_handle(workflow_id(cid), result_type=ComplaintStatus).result()
    recorded.take(buffer)
    histories = await record.run_histories(dev_env.client, workflow_id(cid))

    assert len(histories) >= 3, "the complaint continued as new"
    assert final.state.value == "closed" and final.breaches and len(final.escalations) == 2
    assert_counts_match(recorded, final)
    assert recorded.count(m.OPENED, channel="phone", severity="major") == 1
    ack = next(c for c in final.clocks if c.name.value == "acknowledge")
    resolve = next(c for c in final.clocks if c.name.value == "resolve")
    assert recorded.observed(m.TIME_TO_ACK) == [(ack.met_at - ack.started_at).total_seconds()]
    # 24x7 calendar: working time equals wall time here (the engine tests cover business calendars)
    assert recorded.observed(m.TIME_TO_ACK_BUSINESS) == [ack.met_after_business_seconds]
    assert recorded.observed(m.TIME_TO_RESOLVE) == [(resolve.met_at - resolve.started_at).total_seconds()]
    assert recorded.observed(m.TIME_TO_RESOLVE_BUSINESS) == [resolve.met_after_business_seconds]
    # every series carries exactly its declared labels, and none is an id
    specs = {spec.name: spec for spec in m.CATALOGUE}
    for name, label_sets in recorded.label_sets().items():
        assert label_sets == {frozenset(specs[name].labels)}, name

    # Replaying the recorded runs with a metrics runtime records no cx-sla metric at all.
    replay_runtime, replay_buffer = buffered_runtime()
    replayer = Replayer(workflows=[ComplaintWorkflow], plugins=[CxSlaPlugin()], runtime=replay_runtime)
    for history in histories:
        assert (await replayer.replay_workflow(history)).replay_failure is None
    assert Recorded().take(replay_buffer) == 0


async def _escalated(client: ComplaintClient, cid: str, steps: int) -> bool:
    return len((await client.status(cid)).escalations) >= steps


async def _survey_sent(client: ComplaintClient, cid: str) -> bool:
    return any(t["type"] == "survey_sent" for t in (await client.status(cid)).timeline)


async def test_counts_match_the_status_on_the_time_skipping_server():
    """The golden lifecycle scenario (breach, full ladder, every other clock met) with a cached worker."""
    runtime, buffer = buffered_runtime()
    recorded = Recorded()
    async with record.time_skipping_server() as env:
        metrics_client = await Client.connect(
            env.client.service_client.config.target_host, namespace=env.client.namespace,
            plugins=[CxSlaPlugin()], runtime=runtime,
        )
        queue = task_queue()
        async with Worker(metrics_client, task_queue=queue):
            client = ComplaintClient(env.client, task_queue=queue, policy=record.test_policy())
            cid = await record.lifecycle_with_breach(env, client)
            final = await record.result_after(env, env.client, cid)
        recorded.take(buffer)
    assert len(final.breaches) >= 2
    assert_counts_match(recorded, final)


async def test_golden_histories_replay_without_counting():
    runtime, buffer = buffered_runtime()
    replayer = Replayer(workflows=[ComplaintWorkflow], plugins=[CxSlaPlugin()], runtime=runtime)
    for path in record.history_files():
        history = WorkflowHistory.from_json(record.workflow_id_of(path), path.read_text())
        assert (await replayer.replay_workflow(history)).replay_failure is None
    assert Recorded().take(buffer) == 0


def test_catalogue_names_follow_prometheus_conventions():
    names = [spec.exported for spec in m.CATALOGUE]
    assert len(names) == len(set(names))
    for spec in m.CATALOGUE:
        assert spec.name.startswith("cxsla_")
        assert not spec.name.endswith(("_total", "_seconds")), "suffixes are added by the exporter"
        assert spec.kind is not m.Kind.COUNTER or spec.exported.endswith("_total")
        assert spec.unit in (None, "seconds")
        assert not any(label.endswith("id") for label in spec.labels), spec.name
    assert m.BREACHES.exported == "cxsla_breaches_total"
    assert m.TIME_TO_ACK.series == ("cxsla_time_to_acknowledge_seconds_bucket",
                                    "cxsla_time_to_acknowledge_seconds_sum",
                                    "cxsla_time_to_acknowledge_seconds_count")
    assert set(m.bucket_overrides()) == {s.name for s in m.CATALOGUE if s.kind is m.Kind.HISTOGRAM
                                         and s.source is not m.Source.RESERVED}
