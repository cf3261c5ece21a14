"""Refusals people read: a pydantic ValidationError as one plain sentence that names each offending field."""

from __future__ import annotations

from pydantic import ValidationError


def plain(exc: ValidationError) -> str:
    """`contracts.default.targets.triage: invalid duration 'soon'; warn_at: ...` (pydantic's "Value error, "
    prefix dropped: the message after the key says what is wrong)."""
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{key}: {message}" if key else message)
    return "; ".join(problems)
