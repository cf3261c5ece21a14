"""Workflow changes since the first release, by patch id: runs recorded before a patch replay down the old path.

`workflow.patched(ID)` records a marker the first time a run takes the new path; a history without it replays
through workflows/legacy/. tests/workflows/test_patches.py checks that every id is reached by histories on both sides.
"""

ENGINE_IN_WORKFLOW_PATCH = "engine-in-workflow"  # complaints: the engine runs in workflow code on carried data
CLOCKS_IN_WORKFLOW_PATCH = "clocks-in-workflow"  # plans, cycles, outages (and scheduled launches) likewise
CARRY_ELIDED_TEXT_PATCH = "carry-elided-text"  # complaints: continue-as-new carries long free text as a marker
UNDELIVERED_ATTRIBUTE_PATCH = "undelivered-attribute"  # complaints publish their oldest undelivered notice
STALE_SURVEY_PATCH = "stale-survey"  # a reopen takes back the survey notices of the resolution it undoes
PLAN_BREACH_CLASS_PATCH = "plan-breach-class"  # plans: a missed rectification takes its KPI's class from the policy
REPORT_DELIVERY_PATCH = "report-delivery"  # cycles: the finished report goes to the contract's recipients
PLAN_REVISION_PATCH = "plan-revision"  # plans: a submitted plan can be revised (new version, old ones kept)
THIRD_PARTY_DUTY_PATCH = "third-party-duty"  # cycles: no third-party score by collection time is a breach
ARCHIVE_ON_FINISH_PATCH = "archive-on-finish"  # plans, cycles and outages likewise when they finish
ARCHIVE_ON_CLOSE_PATCH = "archive-on-close"  # complaints write their record to the archive when they end
CYCLE_WAITS_FOR_FIX_PATCH = "cycle-waits-for-fix"  # a step failing in a way no retry fixes waits for `cycle retry`
PLAN_BOUNDED_CARRY_PATCH = "plan-bounded-carry"  # plans hand over after a number of events, progress text elided
