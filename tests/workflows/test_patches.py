"""Every `workflow.patched` guard is proven by history on both sides.

A patch keeps runs recorded before it on their old path, but only a recorded run that actually reaches the guarded
code shows that the old path still replays: a guard that no earlier history reaches could be wrong on its old
side and no test would notice. So each golden history is replayed while the runtime's patch answers are
instrumented: an answer is counted when workflow code *uses* it (its truth value is taken), which is where the
guarded code is reached, not merely where the patch was asked about (the legacy complaint asks about all of its
patches up front). A False answer on replay means the history carries no marker: it was recorded before the
patch. Every patch id in workflows/ must be reached that way by some history, and by one recorded after it.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.worker._workflow_instance import _WorkflowInstanceImpl

import workflows
from tests.histories import record
from workflows.patches import CLOCKS_IN_WORKFLOW_PATCH, ENGINE_IN_WORKFLOW_PATCH

WORKFLOWS_DIR = Path(workflows.__file__).parent


def guarded_patch_ids() -> dict[str, str]:
    """Each id passed to `workflow.patched(...)` anywhere in workflows/, with the module that asks for it (the
    argument is a literal or a module-level name, resolved in that module)."""
    found: dict[str, str] = {}
    root = WORKFLOWS_DIR.parent
    for path in sorted(WORKFLOWS_DIR.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "patched" and node.args):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                assert isinstance(arg.value, str), f"{name}:{node.lineno}: patch id not a string"
                found[arg.value] = name
            else:
                assert isinstance(arg, ast.Name), f"{name}:{node.lineno}: patch id neither a literal nor a name"
                found[getattr(importlib.import_module(name), arg.id)] = name
    return found


class _Answer:
    """What `workflow.patched` answered, noting each time the workflow code branches on it."""

    def __init__(self, patch_id: str, value: bool, used: list[tuple[str, bool]]) -> None:
        self._patch_id, self._value, self._used = patch_id, value, used

    def __bool__(self) -> bool:
        self._used.append((self._patch_id, self._value))
        return self._value


def _answering(original: Callable[..., bool], used: list[tuple[str, bool]]) -> Callable[..., object]:
    def workflow_patch(self, id: str, *, deprecated: bool, **kwargs) -> object:
        answer = original(self, id, deprecated=deprecated, **kwargs)
        return answer if deprecated else _Answer(id, answer, used)
    return workflow_patch


def test_the_scan_finds_the_patches():
    ids = guarded_patch_ids()
    assert {ENGINE_IN_WORKFLOW_PATCH, CLOCKS_IN_WORKFLOW_PATCH} <= set(ids)
    assert {"outcome-memo", "plan-on-major-breach", "plan-on-negative-feedback"} <= set(ids)


async def test_every_patch_guard_is_reached_by_histories_from_before_and_after_it(monkeypatch: pytest.MonkeyPatch):
    used: list[tuple[str, bool]] = []
    monkeypatch.setattr(_WorkflowInstanceImpl, "workflow_patch",
                        _answering(_WorkflowInstanceImpl.workflow_patch, used))
    reached: dict[bool, dict[str, set[str]]] = {False: {}, True: {}}
    replayer = record.replayer()
    for path in record.history_files():
        used.clear()
        result = await replayer.replay_workflow(record.history_of(path), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
        for patch_id, took_patch in used:
            reached[took_patch].setdefault(patch_id, set()).add(path.name)
    ids = guarded_patch_ids()
    before = sorted(f"{p} (asked in {ids[p]})" for p in ids if p not in reached[False])
    after = sorted(f"{p} (asked in {ids[p]})" for p in ids if p not in reached[True])
    assert not before, ("no golden history recorded before these patches reaches their guard (record one with the "
                        f"code of the commit before the patch, named *-golden-*): {before}")
    assert not after, f"no golden history recorded since these patches reaches their guard: {after}"
