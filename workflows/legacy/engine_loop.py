"""The two steps runs recorded by an earlier release repeat: one recorded engine evaluation, one sleep.

Those runs asked a pure engine through a local activity (its answer in history) what was due, then slept on a
fresh timer until the next due instant or the next command. Kept unchanged so that they replay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as LocalActivityTimeout

RETRY_SUMMARY = "retry evaluation after engine error"


async def evaluate_recorded(activity: Callable[[Any], Any], request: Any, what: str,
                            previous: Any) -> tuple[Any, str | None]:
    """(the engine's answer, None), or (previous, why it failed): a failure keeps the last good answer."""
    try:
        answer = await workflow.execute_local_activity(
            activity, request, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        return answer, None
    except (ActivityError, ApplicationError, LocalActivityTimeout) as err:
        # A failed local activity arrives as its own failure (an ApplicationError), not as an ActivityError.
        cause = err.cause if isinstance(err, ActivityError) else err
        message = cause.message if isinstance(cause, ApplicationError) else str(err)
        workflow.logger.error("%s evaluation failed: %s", what, message)
        return previous, message


async def sleep_until(timeout: timedelta | None, summary: str, woken: Callable[[], bool]) -> bool:
    """Sleep for timeout (None: until woken) unless woken first; True when woken, False when the time came."""
    if timeout is not None and timeout <= timedelta(0):
        return False
    try:
        await workflow.wait_condition(woken, timeout=timeout, timeout_summary=summary)
    except TimeoutError:
        return False
    return True
