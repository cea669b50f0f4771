"""The event bus on Redis Streams (ARCHITECTURE §4).

* one stream per producing domain (``events.tasks``, ``events.gamification``, …), its events
  declared once in :mod:`deepiri_kit.contracts` (producers encode with
  :func:`event_envelope`, consumers decode with the contract);
* one consumer group per consuming service, at-least-once delivery;
* consumers are idempotent by event id (:mod:`.inbox`), retry failed events with
  exponential back-off and move them to ``dlq.<group>`` after the last attempt; a sink that
  writes many events at once consumes them a batch at a time (:class:`BatchConsumer`);
* producers never lose an event between their database write and the publish: the event is
  written *in the same document* as the change (:mod:`.outbox`) and delivered afterwards by
  the write path (:mod:`deepiri_kit.chain`);
* the envelope carries ``traceparent`` so the consumer's span continues the producer's trace;
* producers keep what they published (a journal) and replay it when Redis lost it
  (:mod:`.replay`); consumers recreate lost groups and report in readiness if they cannot read.
"""

from deepiri_kit.events.bus import EventBus
from deepiri_kit.events.consumer import (
    BatchConsumer,
    BatchHandler,
    Consumer,
    Delivery,
    Handler,
    Rejections,
)
from deepiri_kit.events.envelope import Envelope, event_envelope, new_event
from deepiri_kit.events.inbox import Inbox, MongoInbox, RedisInbox
from deepiri_kit.events.outbox import outbox_entry
from deepiri_kit.events.replay import JOURNAL, BusGuard, Journal, journalled

__all__ = [
    "JOURNAL",
    "BatchConsumer",
    "BatchHandler",
    "BusGuard",
    "Consumer",
    "Delivery",
    "Envelope",
    "EventBus",
    "Handler",
    "Inbox",
    "Journal",
    "MongoInbox",
    "RedisInbox",
    "Rejections",
    "event_envelope",
    "journalled",
    "new_event",
    "outbox_entry",
]
