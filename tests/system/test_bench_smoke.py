"""`make bench` stays runnable: bench.lifecycle end to end with tiny numbers on the session dev server.

Only that it produces figures is checked; no rate or latency is asserted (it is a measurement, not a test).
"""

from __future__ import annotations

import json

from bench import lifecycle


async def test_bench_lifecycle_produces_figures(dev_env, tmp_path):
    output = tmp_path / "lifecycle.json"
    results = await lifecycle.run(
        complaints=3, concurrency=3, open_k=10, warmup=1, client=dev_env.client, output=output
    )

    throughput = results["throughput"]
    for kind in ("lifecycle", "baseline"):
        assert throughput[kind]["completed"] == 3, throughput[kind]["failure_samples"]
        assert throughput[kind]["per_second"] > 0
        assert throughput[kind]["latency_ms"]["record_feedback"]["p50"] is not None
        memory = results["memory"][kind]
        assert memory["open_workflows"] == 10, memory["failure_samples"]
        assert isinstance(memory["bytes_per_open_workflow"], int)
    assert throughput["ratio_lifecycle_to_baseline"] > 0
    assert results["history"]["lifecycle"]["local_activities_per_workflow"] > 0
    assert json.loads(output.read_text())["parameters"]["complaints"] == 3
    assert "workflows/s" in lifecycle.report(results)
