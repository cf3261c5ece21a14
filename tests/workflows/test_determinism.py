"""What keeps the workflows deterministic without the SDK's sandbox: a static reading of the code they run.

`sla/` is pure (no Temporal, no I/O, no clock, no randomness); `workflows/` orchestrates and reads time only
through `workflow.now()`; neither looks anything up at evaluation time (the holidays package and tzdata are read
only by `sla/official_calendar.py`, which clients and activities call, never a workflow).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SLA = sorted((ROOT / "sla").rglob("*.py"))
WORKFLOWS = sorted((ROOT / "workflows").rglob("*.py"))
# Looked up by sla/official_calendar.py (and policy validation) only: a workflow must never reach them.
LOOKUPS = {"holidays", "zoneinfo"}
IO_MODULES = {"os", "socket", "subprocess", "httpx", "requests", "urllib", "sqlite3", "smtplib", "shutil"}
NONDETERMINISTIC = {"random", "uuid", "secrets", "time", "threading"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _clock_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value,
                                                                                               ast.Name):
            if (node.func.value.id, node.func.attr) in CLOCK_CALLS:
                found.append(f"{path.name}:{node.lineno} {node.func.value.id}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("path", SLA, ids=[p.name for p in SLA])
def test_the_pure_core_imports_no_temporal_no_io_and_no_randomness(path: Path):
    imported = _imports(path)
    assert "temporalio" not in imported
    assert not imported & (IO_MODULES | NONDETERMINISTIC), imported & (IO_MODULES | NONDETERMINISTIC)
    assert not imported & {"activities", "workflows", "starter"}
    # calendar_spec.py: a policy calendar's time zone is checked where the policy file is read (it was policy.py's)
    if path.name not in ("official_calendar.py", "policy.py", "calendar_spec.py"):
        assert not imported & LOOKUPS, f"{path.name} looks up {imported & LOOKUPS}"
    assert _clock_calls(path) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=[str(p.relative_to(ROOT)) for p in WORKFLOWS])
def test_workflow_code_reads_time_only_from_the_workflow(path: Path):
    imported = _imports(path)
    assert not imported & (IO_MODULES | NONDETERMINISTIC | LOOKUPS | {"starter"}), imported
    assert _clock_calls(path) == []
