"""Waiting on a condition, never on a sleep that is usually long enough.

A loaded machine (two cores, the whole suite and more on them, as CI is) can take seconds for
what takes milliseconds alone. A wait returns as soon as its condition holds; it gives up only
after `WAIT_SECONDS`, which is there to end a test that is failing, not to time anything.
"""

import asyncio
import time
from collections.abc import Callable

WAIT_SECONDS = 60.0


async def until(
    condition: Callable[[], object], what: str = "the condition", seconds: float = WAIT_SECONDS
) -> None:
    """Return once `condition()` is true; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {seconds:g} s")
        await asyncio.sleep(0.01)


class Deadline:
    """For loops that retry an action until it works: `while deadline.running(): ...`."""

    def __init__(self, what: str, seconds: float = WAIT_SECONDS) -> None:
        self.what, self.seconds = what, seconds
        self._end = time.monotonic() + seconds

    def running(self) -> bool:
        return time.monotonic() < self._end

    def missed(self) -> AssertionError:
        return AssertionError(f"{self.what}: not so within {self.seconds:g} s")
