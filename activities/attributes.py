"""Typed search attributes from the names in sla/names.py: the one builder workflows and activities share.

Activities may not import workflow modules, and the core may not import Temporal, so the typed keys are built
here, where both sides can reach them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from sla import names
from sla.plans import PlanRun

_BUILDERS: dict[str, Callable[[str], SearchAttributeKey]] = {
    "keyword": SearchAttributeKey.for_keyword, "bool": SearchAttributeKey.for_bool,
    "datetime": SearchAttributeKey.for_datetime, "int": SearchAttributeKey.for_int}


def typed_key(name: str) -> SearchAttributeKey:
    return _BUILDERS[names.SEARCH_ATTRIBUTES[name]](name)


def attributes(values: Mapping[str, Any]) -> TypedSearchAttributes:
    """A workflow's starting attributes, by attribute name."""
    return TypedSearchAttributes([SearchAttributePair(typed_key(name), value) for name, value in values.items()])


def plan_search_attributes(run: PlanRun) -> TypedSearchAttributes:
    """A new plan's attributes (the workflow keeps state and breach flag current)."""
    return attributes({names.CONTRACT: run.policy.name, names.STATE: "awaiting_plan", names.BREACHED: False})


def cycle_search_attributes(contract: str) -> TypedSearchAttributes:
    """A new cycle's attributes (the workflow moves its state through the phases)."""
    return attributes({names.CONTRACT: contract, names.STATE: "planning"})
