"""Records outlive Temporal: complaints of a past quarter close (and archive themselves), their workflows are deleted
from the dev server (`temporal workflow delete`), and `complaint show`, `list`, the export and the quarter's cycle
still have them, with the same figures as before the delete."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.archive_store import ArchiveStore, Filters
from activities.assessment import CollectRequest, VisibilitySource, collect
from plugin import CxSlaPlugin
from sla import events as ev
from sla.commands import OpenComplaint
from sla.names import complaint_workflow_id, complaints_query
from sla.reporting import CycleResult, cycle_workflow_id
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient
from starter.service.binaries import temporal_cli
from starter.service.codec import Keyring, new_key_line
from tests.helpers.e2e import cli, cli_json
from tests.helpers.policies import default_raw, write_policy
from tests.helpers.temporal import task_queue

QUARTER = "2026-Q3"
START, END = datetime(2026, 7, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)
NAME, CONTACT = "Chen Jing", "chen.jing@example.cn"


def logs(contract: str) -> list[list[ev._Event]]:
    """Six complaints handled in the quarter: late and timely acknowledgments, a reclassification with its reason,
    an extension, a withdrawal."""
    out = []
    for i in range(6):
        received = datetime(2026, 8, 3 + i, 1, tzinfo=timezone.utc)  # 09:00 Shanghai, a working morning
        cid = f"{contract}-{i}"
        events: list[ev._Event] = [
            ev.Received(at=received, complaint_id=cid, contract=contract, severity="normal", channel="email",
                        customer_id=f"C-{i % 2}", customer_name=NAME, customer_contact=CONTACT),
            ev.Acknowledged(at=received + (4 * H if i == 0 else H), by="desk"),
        ]
        if i == 5:
            out.append([*events, ev.Withdrawn(at=received + 2 * H, by="sam", reason="customer withdrew")])
            continue
        if i == 1:
            events.append(ev.Reclassified(at=received + 2 * H, by="sam", severity="major", reason="outage related"))
        events += [
            ev.Triaged(at=received + 5 * H, by="desk", category="billing" if i % 2 else "delivery"),
            ev.Resolved(at=received + 30 * H, by="sam", resolution="refund", remedy="compensation",
                        first_contact=i == 2, handling_seconds=1200),
            ev.ResultNotified(at=received + 31 * H, by="desk"),
            ev.FeedbackRecorded(at=received + 32 * H, csat=5 if i % 2 else 2, nps=9, ces=6),
        ]
        out.append(events)
    return out


async def delete(client: Client, workflow_id: str) -> None:
    address = client.service_client.config.target_host
    command = [temporal_cli(), "workflow", "delete", "--workflow-id", workflow_id, "--address", address,
               "--namespace", client.namespace]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, input="y\n")
    assert done.returncode == 0, done.stderr
    for _ in range(600):  # deletion is asynchronous on the server
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} still there after delete")


async def test_deleted_workflows_are_still_shown_listed_exported_and_assessed(dev_env, tmp_path: Path):
    contract = f"arch-{uuid.uuid4().hex[:8]}"
    raw = default_raw()
    raw["contracts"][contract] = raw["contracts"]["default"]
    policy_path, policy = write_policy(raw, tmp_path / "policy.toml")
    key = new_key_line("k1")
    store = ArchiveStore(f"sqlite:///{tmp_path}/archive.sqlite", Keyring.parse(key))
    store.migrate()
    queue = task_queue()
    plugin = CxSlaPlugin(policy_path=policy_path, report_dir=str(tmp_path / "reports"), archive=store)
    async with Worker(dev_env.client, task_queue=queue, plugins=[plugin]):
        complaints = ComplaintClient(dev_env.client, task_queue=queue, policy=policy, archive=store)
        imported = logs(contract)
        await asyncio.gather(*(complaints.import_history(log) for log in imported))
        ids = [log[0].complaint_id for log in imported]  # type: ignore[attr-defined]
        query = complaints_query(contract, START, END) + " AND ExecutionStatus = 'Completed'"
        for _ in range(150):  # visibility is eventually consistent
            if (await dev_env.client.count_workflows(query)).count == len(ids):
                break
            await asyncio.sleep(0.2)
        before = {cid: (await complaints.status(cid)).public() for cid in ids}
        listed_before = {row["id"]: row for row in await complaints.list(contract=contract)}
        assert set(listed_before) == set(ids) and not any(row.get("archived") for row in listed_before.values())
        export_before = list(store.export(_period(contract), personal=True))
        assessment = AssessmentClient.of(complaints)
        request = CollectRequest(policy=policy.assessment(contract), period=QUARTER, start=START, end=END,
                                 now=datetime.now(timezone.utc), batches=[])
        from_visibility = await collect(dev_env.client, VisibilitySource(dev_env.client), request, archive=None)
        assert from_visibility.complaints_listed == len(ids)

        await asyncio.gather(*(delete(dev_env.client, complaint_workflow_id(cid)) for cid in ids))

        for cid in ids:
            after = (await complaints.status(cid)).public()
            assert after.pop("archived")["first_run_id"]  # read from the archive
            assert before[cid].pop("archived") is None  # read from the workflow
            assert after == before[cid] and after["timeline"], cid
        reclassified = next(t for t in before[ids[1]]["timeline"] if t["type"] == "reclassified")
        assert (reclassified["by"], reclassified["from_severity"], reclassified["reason"]) == (
            "sam", "normal", "outage related")

        listed_after = {row["id"]: row for row in await complaints.list(contract=contract)}
        assert set(listed_after) == set(ids) and all(row["archived"] for row in listed_after.values())
        for cid in ids:
            assert {k: listed_after[cid][k] for k in ("state", "severity", "breached")} == {
                k: listed_before[cid][k] for k in ("state", "severity", "breached")}
        assert [r["id"] for r in await complaints.list(contract=contract, customer_id="C-1")] == [
            ids[5], ids[3], ids[1]]
        assert list(store.export(_period(contract), personal=True)) == export_before

        # The quarter's cycle, started only now that Temporal has none of its complaints, has the same figures.
        await assessment.start_cycle(contract, QUARTER)
        cycle = dev_env.client.get_workflow_handle(cycle_workflow_id(contract, QUARTER), result_type=CycleResult)
        result = await asyncio.wait_for(cycle.result(), timeout=120)
        figures = {k.name: k.value for k in result.assessment.kpis}
        assert figures == {k.name: k.value for k in from_visibility.assessment.kpis}
        assert figures  # the cycle did compute KPIs
        record = store.record("cycle", cycle_workflow_id(contract, QUARTER))
        behind = sorted(cid for cid in ids if any(b["class"] == "minor" for b in before[cid]["breaches"]))
        assert behind and record is not None and record["breach_complaints"]["minor"] == behind
        report = json.loads((tmp_path / "reports" / contract / f"{QUARTER}.json").read_text())
        assert report["breach_complaints"]["minor"] == behind  # the report names them too
        assert all(cid in (tmp_path / "reports" / contract / f"{QUARTER}.md").read_text() for cid in behind)

    env = {"TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "CXSLA_CODEC_KEYS": key,
           "CXSLA_ARCHIVE_URL": store.url, "CXSLA_POLICY": policy_path}
    shown = cli_json("complaint", "show", ids[1], env=env)
    assert shown["archived"] and shown["timeline"] == before[ids[1]]["timeline"]
    exported = cli("complaint", "export", "--from", "2026-07-01", "--to", "2026-10-01", "--format", "csv",
                   "--contract", contract, env=env).stdout
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["id"] for r in rows] == ids and "customer_name" not in rows[0]
    assert json.loads(rows[1]["timeline"]) == before[ids[1]]["timeline"]
    assert NAME not in exported and CONTACT not in exported
    store.dispose()
    raw_file = b"".join(p.read_bytes() for p in tmp_path.glob("archive.sqlite*"))
    assert contract.encode() in raw_file and NAME.encode() not in raw_file and CONTACT.encode() not in raw_file


def _period(contract: str) -> Filters:
    return Filters(contract=contract, received_from=START, received_to=END)


pytestmark = pytest.mark.e2e


async def test_backfill_archives_complaints_that_ended_before_the_archive(dev_env, tmp_path: Path):
    contract = f"fill-{uuid.uuid4().hex[:8]}"
    raw = default_raw()
    raw["contracts"][contract] = raw["contracts"]["default"]
    policy_path, policy = write_policy(raw, tmp_path / "policy.toml")
    store = ArchiveStore(f"sqlite:///{tmp_path}/archive.sqlite", Keyring.parse(new_key_line("k1")))
    queue = task_queue()
    plugin = CxSlaPlugin(policy_path=policy_path, report_dir=str(tmp_path / "reports"), archive=store)
    async with Worker(dev_env.client, task_queue=queue, plugins=[plugin]):
        complaints = ComplaintClient(dev_env.client, task_queue=queue, policy=policy, archive=store)
        log = logs(contract)[1]
        await complaints.import_history(log)
        cid = log[0].complaint_id  # type: ignore[attr-defined]
        await dev_env.client.get_workflow_handle(complaint_workflow_id(cid)).result()
        archived = store.status(cid)
        assert archived is not None
        with store.engine.begin() as connection:  # as if it had ended before the archive existed
            connection.execute(sa.text("DELETE FROM complaints"))
        assert store.status(cid) is None
        query = complaints_query(contract, START, END) + " AND ExecutionStatus = 'Completed'"
        for _ in range(150):
            if (await dev_env.client.count_workflows(query)).count == 1:
                break
            await asyncio.sleep(0.2)
        assert await complaints.archive_ended(contract=contract) == (1, 0)
        assert await complaints.archive_ended(contract=contract) == (0, 1)
        backfilled = store.status(cid)
        assert backfilled is not None
        for key in ("state", "severity", "clocks", "breaches", "escalations"):
            assert backfilled[key] == archived[key], key
        assert [(e["type"], e["by"]) for e in backfilled["timeline"]] == [
            (e["type"], e["by"]) for e in archived["timeline"]]
        assert "reason" not in str(backfilled["timeline"])  # free text is not in what the query gives
        assert store.tally(contract, START, END).complaints == 1

        # An open complaint archived on demand: a snapshot, which cycles leave out and its final record replaces.
        now = datetime.now(timezone.utc)
        await complaints.open(OpenComplaint(id=f"{contract}-open", contract=contract, severity="normal",
                                            customer_name=NAME))
        await complaints.snapshot(f"{contract}-open")
        snapshot = store.status(f"{contract}-open")
        assert snapshot is not None and snapshot["archived"]["snapshot"] and snapshot["state"] == "received"
        assert store.tally(contract, now - H, now + H).complaints == 0
        await complaints.command(f"{contract}-open", "withdraw", {"by": "sam", "reason": "duplicate"})
        await dev_env.client.get_workflow_handle(complaint_workflow_id(f"{contract}-open")).result()
        final = store.status(f"{contract}-open")
        assert final is not None and not final["archived"]["snapshot"] and final["state"] == "withdrawn"
        assert final["timeline"][-1]["reason"] == "duplicate"
        assert store.tally(contract, now - H, now + H).complaints == 1
    store.dispose()
