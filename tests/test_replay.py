"""Golden histories replay against today's workflows (a change that breaks them needs workflow.patched).

Record a new scenario with `python -m tests.histories.record --only NAME` (the other files stay as they are);
regenerate everything with `python -m tests.histories.record` only when breaking old histories is intended.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import plugin
from tests.histories import record
from workflows.complaint import OUTCOME_MEMO_PATCH, PLAN_ON_MAJOR_BREACH_PATCH, PLAN_ON_NEGATIVE_FEEDBACK_PATCH

GOLDEN = record.history_files()
WORKFLOW_TYPES = {getattr(cls, "__temporal_workflow_definition").name for cls in plugin.WORKFLOWS}
# Recorded before OUTCOME_MEMO_PATCH and PLAN_ON_MAJOR_BREACH_PATCH: they keep replaying down the unpatched paths
# (and complaint-golden-major-breach down the path without PLAN_ON_NEGATIVE_FEEDBACK_PATCH).
BEFORE_PATCHES = {
    "complaint-golden-lifecycle.run1.json",  # a full lifecycle with a breach
    "complaint-golden-pause-extend.run1.json",  # pause/extend/reclassify
    *(f"complaint-golden-continued.run{n}.json" for n in (1, 2, 3)),  # continued as new (3 runs)
}
AFTER_PATCHES = {
    "complaint-golden-major-breach.run1.json": "ComplaintWorkflow",  # major resolve breach opens a plan; memo
    "complaint-golden-negative-feedback.run1.json": "ComplaintWorkflow",  # a 1-of-5 answer opens the CSAT plan
    "cycle-golden-missed-target.run1.json": "AssessmentCycleWorkflow",  # batches, a missed target, a plan started
    "plan-golden-resolution_rate.run1.json": "ImprovementPlanWorkflow",  # submitted, progress, breach, effective
    "outage-golden-major.run1.json": "ServiceInterruptionWorkflow",  # major breach with the ladder, restored
}


def _replayer() -> Replayer:
    return Replayer(workflows=plugin.WORKFLOWS, data_converter=pydantic_data_converter)


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(record.workflow_id_of(path), path.read_text())


def _workflow_type(events: list[dict]) -> str:
    return events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_golden_histories_are_there():
    names = {p.name for p in GOLDEN}
    assert BEFORE_PATCHES <= names
    assert set(AFTER_PATCHES) <= names
    for path in GOLDEN:
        events = json.loads(path.read_text())["events"]
        assert _workflow_type(events) in WORKFLOW_TYPES, path.name
        if path.name in AFTER_PATCHES:
            assert _workflow_type(events) == AFTER_PATCHES[path.name], path.name
        last = events[-1]["eventType"]
        assert last in ("EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW")
        assert not [e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED"], path.name


def test_golden_complaint_histories_cover_both_sides_of_the_patches():
    for name in BEFORE_PATCHES:
        assert record.patches_of(_history(record.HERE / name)) == [], name
    major = _history(record.HERE / "complaint-golden-major-breach.run1.json")
    assert record.patches_of(major) == [OUTCOME_MEMO_PATCH, PLAN_ON_MAJOR_BREACH_PATCH]
    assert "cxsla.open_plan_for_complaint" in record.activity_types_of(major)
    assert "EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED" in record.event_types_of(major)  # the outcome memo
    assert "cxsla.open_plans_for_feedback" not in record.activity_types_of(major)  # recorded before that patch
    feedback = _history(record.HERE / "complaint-golden-negative-feedback.run1.json")
    assert record.patches_of(feedback) == [OUTCOME_MEMO_PATCH, PLAN_ON_MAJOR_BREACH_PATCH,
                                           PLAN_ON_NEGATIVE_FEEDBACK_PATCH]
    assert "cxsla.open_plans_for_feedback" in record.activity_types_of(feedback)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
async def test_golden_history_replays(path: Path):
    result = await _replayer().replay_workflow(_history(path))  # raises on nondeterminism
    assert result.replay_failure is None


async def test_fresh_histories_replay(tmp_path: Path):
    """Today's code replays what today's code records (the scenarios also check their own outcomes), for every
    scenario, and the scenarios are the ones the golden files came from."""
    paths = [p for scenario in record.SCENARIOS for p in await record.record(scenario, tmp_path)]
    assert {p.name for p in paths} == {p.name for p in GOLDEN}
    replayer = _replayer()
    for path in paths:
        result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
