"""Durable Temporal workflows: thin, deterministic orchestration over the pure engine.

They run outside the SDK's sandbox (`sandboxed=False`): the sandbox imports a workflow's module afresh for every
run a worker starts or wakes, which cost each complaint about 20 ms of CPU and 100 KB of memory while it stays
cached, and it guards little here: everything a workflow computes comes from `sla/` (pure: no I/O, no clock
reads, no randomness) on data the workflow carries. Determinism is held by that rule, by every time coming from
`workflow.now()`, and by replaying recorded histories in CI (tests/workflows/test_replay.py,
tests/workflows/test_determinism.py).
"""
