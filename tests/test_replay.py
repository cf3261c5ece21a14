"""Golden histories replay against today's ComplaintWorkflow (a change that breaks them needs workflow.patched).

Regenerate with `python -m tests.histories.record` only when breaking old histories is intended.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.histories import record
from workflows.complaint import ComplaintWorkflow

GOLDEN = record.history_files()


def _replayer() -> Replayer:
    return Replayer(workflows=[ComplaintWorkflow], data_converter=pydantic_data_converter)


def test_golden_histories_are_there():
    names = {p.name for p in GOLDEN}
    # a full lifecycle with a breach, one with pause/extend/reclassify, one that continued as new (3 runs)
    assert "complaint-golden-lifecycle.run1.json" in names
    assert "complaint-golden-pause-extend.run1.json" in names
    assert {f"complaint-golden-continued.run{n}.json" for n in (1, 2, 3)} <= names
    for path in GOLDEN:
        events = json.loads(path.read_text())["events"]
        last = events[-1]["eventType"]
        assert last in ("EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW")
        assert not [e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED"], path.name


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
async def test_golden_history_replays(path: Path):
    history = WorkflowHistory.from_json(record.workflow_id_of(path), path.read_text())
    result = await _replayer().replay_workflow(history)  # raises on nondeterminism
    assert result.replay_failure is None


async def test_fresh_histories_replay(tmp_path: Path):
    """Today's code replays what today's code records (the scenarios also check their own outcomes)."""
    paths = [p for scenario in record.SCENARIOS for p in await record.record(scenario, tmp_path)]
    assert len(paths) == 5
    histories = [WorkflowHistory.from_json(record.workflow_id_of(p), p.read_text()) for p in paths]
    replayer = _replayer()
    for history in histories:
        assert (await replayer.replay_workflow(history)).replay_failure is None
