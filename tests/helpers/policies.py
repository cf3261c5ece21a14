"""Policies for tests: a small hand-checkable one, the shipped one as a dict to edit, and writing one to a file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from sla.policy import PolicyFile, default_policy_path, parse_policy, resolve_extends

# Whole hours, UTC, no holidays: every deadline of a test can be worked out by hand.
SMALL: dict[str, Any] = {
    "version": "t1",
    "calendars": {"utc": {"timezone": "UTC"}},
    "contracts": {
        "t": {
            "calendar": "utc",
            "warn_at": [0.5, 0.8],
            "survey_window": "10h",
            "escalation": [
                {"after": "PT0S", "to": "team-lead"},
                {"after": "1h", "to": "supervisor"},
                {"after": "2 working hours", "to": "manager"},
            ],
            "targets": {
                "acknowledge": "2 working hours",
                "triage": "4h",
                "handling_plan": "10h",
                "progress_update": "5h",
                "resolve": "20h",
                "notify_result": "3h",
                "survey": "6h",
            },
            "severity": {
                "critical": {"targets": {"resolve": "8h"}, "major_breach": ["resolve"]},
                "low": {"targets": {"resolve": "40 working hours"}},
            },
        }
    },
}


def default_raw() -> dict:
    """The shipped policy as a plain dict, `extends` written out (tests change one contract's keys in place)."""
    return resolve_extends(tomllib.loads(default_policy_path().read_text()))


def write_policy(raw: dict, path: Path) -> tuple[str, PolicyFile]:
    path.write_text(tomli_w.dumps(raw))
    return str(path), parse_policy(raw)
