"""The chaos run in small (bench/chaos.py): 30 complaints on second-scale clocks through whole lifecycles while
the worker is SIGKILLed once and the dev server restarted once, with a receiver refusing a tenth of the deliveries.
Every complaint ends as its script intends, every breach, escalation and warning the engine says was due arrives,
copies carry the same key, and no workflow task or workflow failed."""

from __future__ import annotations

import pytest

from bench.chaos import report, run

pytestmark = pytest.mark.e2e  # a dev server and worker processes of its own


async def test_nothing_is_lost_when_the_worker_is_killed_and_the_server_restarted():
    results = await run(complaints=30, unit=0.15, open_over=5, kill_every=(6, 9), max_kills=1, server_restarts=1,
                        down=2, drain=90, seed=7)
    print(report(results))
    assert results["worker_kills"] == 1 and results["server_restarts"] == 1
    assert results["still_running"] == 0
    assert results["wrong_end_state"] == 0, results["wrong_end_examples"]
    assert results["deliveries_expected"] > 0 and results["deliveries_missing"] == 0, results["missing_examples"]
    assert results["keys_differing_between_copies"] == 0
    assert results["task_failures"] == 0 and results["workflows_not_completed"] == 0
    assert results["answered_503"] > 0
