"""What task-service consumes: nothing yet. Its own stream, ``events.tasks``, is read by
gamification-service (and, as they arrive, analytics and notification services), each
decoding it with ``deepiri_kit.contracts.tasks``."""

from __future__ import annotations

from deepiri_kit.events import Handler

GROUP = "task-service"


def handlers() -> dict[str, Handler]:
    """The consumer's stream → handler map: empty, so no consumer runs."""
    return {}
