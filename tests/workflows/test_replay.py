"""Golden histories replay against today's workflows (a change that breaks them needs workflow.patched).

Two kinds of files live in tests/histories/:
- histories of earlier releases (`*-golden-*`), frozen: each replays down the path its code took then (the legacy
  code behind `engine-in-workflow` and `clocks-in-workflow`, or the old side of a later patch);
- today's scenarios (`*-v2-*`), re-recordable with `python -m tests.histories.record [--only NAME]`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import plugin
from tests.histories import record
from workflows.legacy.complaint import OUTCOME_MEMO_PATCH, PLAN_ON_MAJOR_BREACH_PATCH, PLAN_ON_NEGATIVE_FEEDBACK_PATCH
from workflows.patches import (
    ARCHIVE_ON_CLOSE_PATCH,
    ARCHIVE_ON_FINISH_PATCH,
    CARRY_ELIDED_TEXT_PATCH,
    CLOCKS_IN_WORKFLOW_PATCH,
    CYCLE_WAITS_FOR_FIX_PATCH,
    ENGINE_IN_WORKFLOW_PATCH,
    PLAN_BOUNDED_CARRY_PATCH,
    PLAN_BREACH_CLASS_PATCH,
    PLAN_REVISION_PATCH,
    REPORT_DELIVERY_PATCH,
    STALE_SURVEY_PATCH,
    THIRD_PARTY_DUTY_PATCH,
    UNDELIVERED_ATTRIBUTE_PATCH,
)

GOLDEN = record.history_files()
WORKFLOW_TYPES = {getattr(cls, "__temporal_workflow_definition").name for cls in plugin.WORKFLOWS}
# Recorded by earlier releases: each replays down the path it took then. The first six predate every complaint
# patch (resolve-breach, a major resolve breach, was recorded with the code of 8956c79, the parent of the commit
# that added outcome-memo and plan-on-major-breach, so that the old side of that guard is replayed too: see
# tests/workflows/test_patches.py); the major-breach one took outcome-memo and plan-on-major-breach; the
# negative-feedback one all three.
EARLIER_RELEASES = {
    "complaint-golden-lifecycle.run1.json": ("ComplaintWorkflow", []),
    "complaint-golden-resolve-breach.run1.json": ("ComplaintWorkflow", []),
    "complaint-golden-pause-extend.run1.json": ("ComplaintWorkflow", []),
    **{f"complaint-golden-continued.run{n}.json": ("ComplaintWorkflow", []) for n in (1, 2, 3)},
    "complaint-golden-major-breach.run1.json": ("ComplaintWorkflow", [OUTCOME_MEMO_PATCH,
                                                                      PLAN_ON_MAJOR_BREACH_PATCH]),
    "complaint-golden-negative-feedback.run1.json": ("ComplaintWorkflow", [
        OUTCOME_MEMO_PATCH, PLAN_ON_MAJOR_BREACH_PATCH, PLAN_ON_NEGATIVE_FEEDBACK_PATCH]),
    "cycle-golden-missed-target.run1.json": ("AssessmentCycleWorkflow", []),
    "plan-golden-resolution_rate.run1.json": ("ImprovementPlanWorkflow", []),
    "outage-golden-major.run1.json": ("ServiceInterruptionWorkflow", []),
    # recorded with the code before undelivered-attribute and stale-survey (the survey went out after the reopen)
    "complaint-golden-held-survey.run1.json": ("ComplaintWorkflow", [ENGINE_IN_WORKFLOW_PATCH]),
}
# Today's histories that reach a patch added after their generation was first recorded (its other side is
# replayed by the same generation's histories recorded before it).
LATER_PATCHES = {
    f"complaint-{record.GENERATION}-elided.run1.json": [CARRY_ELIDED_TEXT_PATCH],  # the run that continued
    f"complaint-{record.GENERATION}-held-survey.run1.json": [UNDELIVERED_ATTRIBUTE_PATCH, STALE_SURVEY_PATCH],
    f"plan-{record.GENERATION}-minor-rectification.run1.json": [PLAN_BREACH_CLASS_PATCH],
    f"cycle-{record.GENERATION}-report-delivery.run1.json": [REPORT_DELIVERY_PATCH],
    f"plan-{record.GENERATION}-revised.run1.json": [PLAN_REVISION_PATCH, PLAN_BREACH_CLASS_PATCH],
    f"cycle-{record.GENERATION}-third-party-missing.run1.json": [THIRD_PARTY_DUTY_PATCH, REPORT_DELIVERY_PATCH],
    f"complaint-{record.GENERATION}-archived.run1.json": [ARCHIVE_ON_CLOSE_PATCH],
    f"outage-{record.GENERATION}-archived.run1.json": [ARCHIVE_ON_FINISH_PATCH],
    # both runs of the plan that continued as new (plan-v2-resolution_rate replays the old side)
    **{f"plan-{record.GENERATION}-csat.run{n}.json": [PLAN_BOUNDED_CARRY_PATCH] for n in (1, 2)},
    f"cycle-{record.GENERATION}-waits-for-fix.run1.json": [CYCLE_WAITS_FOR_FIX_PATCH],  # missed-target: before it
}
CURRENT_PATCH = {"ComplaintWorkflow": ENGINE_IN_WORKFLOW_PATCH, "AssessmentCycleWorkflow": CLOCKS_IN_WORKFLOW_PATCH,
                 "ImprovementPlanWorkflow": CLOCKS_IN_WORKFLOW_PATCH,
                 "ServiceInterruptionWorkflow": CLOCKS_IN_WORKFLOW_PATCH}


def _workflow_type(events: list[dict]) -> str:
    return events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


def test_golden_histories_are_there():
    names = {p.name for p in GOLDEN}
    assert set(EARLIER_RELEASES) <= names
    for path in GOLDEN:
        events = json.loads(path.read_text())["events"]
        assert _workflow_type(events) in WORKFLOW_TYPES, path.name
        if path.name in EARLIER_RELEASES:
            assert _workflow_type(events) == EARLIER_RELEASES[path.name][0], path.name
        else:
            assert record.current_generation(path), f"{path.name}: neither an earlier release's nor current"
        last = events[-1]["eventType"]
        assert last in ("EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW")
        assert not [e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED"], path.name


def test_each_history_took_the_path_it_replays_down():
    """Earlier releases' histories carry none of today's patch markers (so they replay through workflows/legacy/);
    today's carry exactly the one of their workflow type."""
    for name, (_, patches) in EARLIER_RELEASES.items():
        assert record.patches_of(record.history_of(record.HERE / name)) == patches, name
    for path in GOLDEN:
        if path.name not in EARLIER_RELEASES:
            kind = _workflow_type(json.loads(path.read_text())["events"])
            expected = [CURRENT_PATCH[kind], *LATER_PATCHES.get(path.name, [])]
            assert record.patches_of(record.history_of(path)) == expected, path.name
    major = record.history_of(record.HERE / "complaint-golden-major-breach.run1.json")
    assert "cxsla.open_plan_for_complaint" in record.activity_types_of(major)
    assert "cxsla.evaluate_complaint" not in record.activity_types_of(major)  # a local activity: a marker
    current = record.history_of(record.HERE / f"complaint-{record.GENERATION}-major-breach.run1.json")
    markers = [e.marker_recorded_event_attributes.marker_name for e in current.events
               if e.HasField("marker_recorded_event_attributes")]
    assert markers == ["core_patch"]  # the engine runs in workflow code: no evaluation is recorded


@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
async def test_golden_history_replays(path: Path):
    result = await record.replayer().replay_workflow(record.history_of(path))  # raises on nondeterminism
    assert result.replay_failure is None


async def test_fresh_histories_replay(tmp_path: Path):
    """Today's code replays what today's code records (the scenarios also check their own outcomes), for every
    scenario, and the scenarios are the ones the current generation's files came from."""
    paths = [p for scenario in record.SCENARIOS for p in await record.record(scenario, tmp_path)]
    assert {p.name for p in paths} == {p.name for p in GOLDEN if record.current_generation(p)}
    replayer = record.replayer()
    for path in paths:
        result = await replayer.replay_workflow(record.history_of(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
