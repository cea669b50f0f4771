"""Event contracts, declared once: one module per stream, one typed struct per event type.

The producer encodes with them (``deepiri_kit.events.event_envelope``), every consumer
decodes with them (``Contract.decode(envelope)`` or ``module.STREAM.decode(envelope)``) and
passes the struct on — nobody re-declares or copies an event field by field. Each module
holds the stream (``STREAM``, with its name), the event type literals and the structs:

* :mod:`.tasks` — ``events.tasks`` (task-service)
* :mod:`.gamification` — ``events.gamification`` (gamification-service)
* :mod:`.challenges` — ``events.challenges`` (challenge-service)
* :mod:`.users` — ``events.users`` (user-service)
* :mod:`.skills` — ``events.skills`` (user-service's skill trees)
* :mod:`.social` — ``events.social`` (user-service's social graph)

and one request/response API that is not a stream:

* :mod:`.agent` — ai-service's ``/api/agent`` (challenge generation, task understanding)

A new stream is a new module here, with a contract test in ``tests/kit/test_contracts.py``
(``make new-service`` writes both for its example stream).
"""

from deepiri_kit.contracts import agent, challenges, gamification, skills, social, tasks, users
from deepiri_kit.contracts.base import Carried, ContractError, Event, Stream, UtcTime

__all__ = [
    "Carried",
    "ContractError",
    "Event",
    "Stream",
    "UtcTime",
    "agent",
    "challenges",
    "gamification",
    "skills",
    "social",
    "tasks",
    "users",
]
