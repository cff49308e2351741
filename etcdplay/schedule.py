"""Whether a step began when the scenario said it would.

Steps run in order, each at its ``at``; a step that blocks (a put without a
quorum waits out its request timeout, a wait-for-leader its timeout) pushes
every later step back. The schedule is kept where it can be; where it
cannot, the trace says so (``late`` on the step event, a note) and so does
the summary, instead of an ``expect`` written ``at = 2.0`` silently running
at 8.5 s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: A step beginning this much after its ``at`` is late. Live steps begin a few
#: milliseconds after their time (wall clock, threads); that is not lateness.
LATE_AFTER = 0.1


def late_by(at: float, now: float) -> float | None:
    """Seconds the step began after ``at``, or None when on time."""
    delay = now - at
    return round(delay, 6) if delay > LATE_AFTER else None


def late_steps(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace's step events that began late."""
    return [e for e in events if e.get("kind") == "step" and isinstance(e.get("late"), int | float)]
