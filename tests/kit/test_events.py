"""The event bus over a real Redis: delivery, retries, dead letters, idempotency, tracing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from deepiri_kit import Platform, Wiring, create_app, load_settings
from deepiri_kit.events import (
    BatchConsumer,
    Consumer,
    Delivery,
    Envelope,
    EventBus,
    MongoInbox,
    RedisInbox,
    Rejections,
    new_event,
)
from deepiri_kit.events.consumer import dead_letter_stream
from deepiri_kit.tracing import tracer
from support.apps import app_client
from support.sample_app import SampleSettings
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STREAM = "events.tests"


def event(n: int = 0, **data: Any) -> Envelope:
    return new_event("test.happened", source="tests", user_id="u1", data={"n": n, **data})


@contextlib.asynccontextmanager
async def running(consumer: Consumer) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


def make_consumer(redis: Any, handler: Any, **kw: Any) -> Consumer:
    options = {"block_ms": 50, "backoff_base": 0.1, "visibility_timeout": 0.5, **kw}
    return Consumer(
        redis, group="tests", handlers={STREAM: handler}, inbox=RedisInbox(redis), **options
    )


async def test_event_published_before_the_consumer_starts_is_handled_once(redis: Any) -> None:
    bus = EventBus(redis)
    sent = event(1)
    await bus.publish(STREAM, sent)  # no group exists yet
    seen: list[Envelope] = []

    async def handle(e: Envelope) -> None:
        seen.append(e)

    async with running(make_consumer(redis, handle)):
        await eventually(lambda: _true(len(seen) == 1))
        await asyncio.sleep(0.5)  # would a second delivery arrive?
    assert [e.id for e in seen] == [sent.id]
    assert seen[0] == sent
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 0


async def test_redelivered_duplicates_are_handled_once(redis: Any, mongo: Any) -> None:
    bus = EventBus(redis)
    sent = event(2)
    for _ in range(3):  # e.g. an outbox relayed it twice, and a retry
        await bus.publish(STREAM, sent)
    calls = 0

    async def handle(_: Envelope) -> None:
        nonlocal calls
        calls += 1

    consumer = Consumer(
        redis,
        group="tests",
        handlers={STREAM: handle},
        inbox=MongoInbox(mongo["processed"]),
        block_ms=50,
    )
    async with running(consumer):
        await eventually(lambda: _true(calls >= 1))
        await asyncio.sleep(0.5)
    assert calls == 1
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 0


async def test_a_self_marking_stream_skips_the_inbox_and_leaves_duplicates_to_its_handler(
    redis: Any, mongo: Any
) -> None:
    """Its handler's own write is the record of an event: the inbox is neither read nor
    written for it (every delivery reaches the handler), other streams still use it."""
    bus = EventBus(redis)
    own, other = event(3), event(4)
    for _ in range(2):
        await bus.publish(STREAM, own)
        await bus.publish("events.others", other)
    calls: list[str] = []

    async def handle(e: Envelope) -> None:
        calls.append(e.id)

    consumer = Consumer(
        redis,
        group="tests",
        handlers={STREAM: handle, "events.others": handle},
        inbox=MongoInbox(mongo["processed"]),
        block_ms=50,
        self_marking={STREAM},
    )
    async with running(consumer):
        await eventually(lambda: _true(len(calls) >= 3))
        await asyncio.sleep(0.5)
    assert sorted(calls) == sorted([own.id, own.id, other.id])
    assert [d["_id"] async for d in mongo["processed"].find({})] == [f"tests:{other.id}"]


async def test_types_a_stream_does_not_want_are_acknowledged_without_the_inbox(
    redis: Any, mongo: Any
) -> None:
    bus = EventBus(redis)
    wanted = event(3)
    other = new_event("test.ignored", source="tests", user_id="u1", data={})
    await bus.publish(STREAM, other)
    await bus.publish(STREAM, wanted)
    seen: list[str] = []

    async def handle(e: Envelope) -> None:
        seen.append(e.type)

    inbox = mongo["processed"]
    consumer = Consumer(
        redis,
        group="tests",
        handlers={STREAM: handle},
        inbox=MongoInbox(inbox),
        block_ms=50,
        wanted={STREAM: {"test.happened"}},
    )
    async with running(consumer):
        await eventually(lambda: _true(seen == ["test.happened"]))
        await eventually(lambda: _nothing_pending(redis))
    assert seen == ["test.happened"]
    assert await inbox.find_one({"_id": f"tests:{wanted.id}"}) is not None
    assert await inbox.find_one({"_id": f"tests:{other.id}"}) is None


async def _nothing_pending(redis: Any) -> bool:
    return bool((await redis.xpending(STREAM, "tests"))["pending"] == 0)


async def test_failing_handler_is_retried_with_backoff_then_dead_lettered(redis: Any) -> None:
    attempts: list[float] = []

    async def handle(_: Envelope) -> None:
        attempts.append(time.monotonic())
        raise RuntimeError("downstream said no")

    sent = event(3)
    published_at = time.monotonic()
    await EventBus(redis).publish(STREAM, sent)
    consumer = make_consumer(redis, handle, max_attempts=4, backoff_base=0.2)
    async with running(consumer):
        await eventually(lambda: _len_at_least(redis, dead_letter_stream("tests"), 1))
    assert len(attempts) == 4
    # Back-off doubles: 0.2 s, 0.4 s, 0.8 s. A retry is claimed only once Redis has held its
    # entry idle that long since the previous delivery (XCLAIM's min-idle-time), and the
    # first delivery follows the publish: so however late a loaded event loop starts a
    # handler, each attempt starts at least the sum of the back-offs before it after the
    # publish (gaps between handler starts would shrink by a late start; these cannot). A
    # back-off that did not double would not reach 1.4 s by the fourth.
    since = [at - published_at for at in attempts]
    for start, due in zip(since[1:], [0.2, 0.6, 1.4], strict=True):
        assert start >= due - 0.01, since  # Redis counts whole milliseconds
    [(_, dead)] = await redis.xrange(dead_letter_stream("tests"))
    assert Envelope.decode(dead["envelope"]).id == sent.id
    assert dead["attempts"] == "4"
    assert "downstream said no" in dead["error"]
    assert dead["stream"] == STREAM
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 0


async def test_handler_that_recovers_is_not_dead_lettered(redis: Any) -> None:
    calls = 0

    async def flaky(_: Envelope) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("blip")

    await EventBus(redis).publish(STREAM, event(4))
    async with running(make_consumer(redis, flaky, max_attempts=5)):
        await eventually(lambda: _pending_is(redis, 0, calls_needed=lambda: calls >= 3))
    assert calls == 3
    assert await redis.xlen(dead_letter_stream("tests")) == 0


async def test_undecodable_entry_goes_straight_to_dead_letters(redis: Any) -> None:
    await redis.xadd(STREAM, {"envelope": "{not json"})
    handled: list[Envelope] = []

    async def handle(e: Envelope) -> None:
        handled.append(e)

    async with running(make_consumer(redis, handle)):
        await eventually(lambda: _len_at_least(redis, dead_letter_stream("tests"), 1))
    assert handled == []
    [(_, dead)] = await redis.xrange(dead_letter_stream("tests"))
    assert dead["error"].startswith("undecodable envelope")


async def test_entry_left_pending_by_a_dead_consumer_is_claimed_by_another(redis: Any) -> None:
    sent = event(5)
    await EventBus(redis).publish(STREAM, sent)
    await redis.xgroup_create(STREAM, "tests", id="0", mkstream=True)
    # A consumer read it and died before acknowledging.
    await redis.xreadgroup("tests", "crashed-pod", {STREAM: ">"}, count=1)
    seen: list[str] = []

    async def handle(e: Envelope) -> None:
        seen.append(e.id)

    async with running(make_consumer(redis, handle, visibility_timeout=0.3)):
        await eventually(lambda: _true(seen == [sent.id]))
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 0


async def test_copies_of_an_event_in_one_read_are_handled_once_with_a_redis_inbox(
    redis: Any,
) -> None:
    """The inbox is asked once for the whole read: a copy later in the same read is still a
    duplicate of the one handled before it."""
    sent = event(6)
    for _ in range(3):
        await EventBus(redis).publish(STREAM, sent)
    calls: list[str] = []

    async def handle(e: Envelope) -> None:
        calls.append(e.id)

    consumer = make_consumer(redis, handle)
    await consumer.ensure_groups()
    assert await consumer.poll_once(block_ms=50) == 3  # one read, all three copies
    assert calls == [sent.id]
    assert await redis.exists(f"inbox:tests:{sent.id}")
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 0


async def test_a_crash_between_the_handler_and_its_mark_redelivers_the_event_unmarked(
    redis: Any,
) -> None:
    """The mark and the ack go together after the handler's write: a consumer dying in
    between leaves the entry pending and unmarked, so another handles it again (its write,
    idempotent by the event id, absorbs the second time) and only then marks and acks it."""
    sent = event(7)
    await EventBus(redis).publish(STREAM, sent)
    written: dict[str, int] = {}  # the handler's idempotent write: keyed by the event id
    marked_while_handling: list[bool] = []

    async def dies_after_writing(e: Envelope) -> None:
        written[e.id] = 1
        raise asyncio.CancelledError  # the process dies here: not a handler failure

    crashing = make_consumer(redis, dies_after_writing, name="crashing-pod")
    await crashing.ensure_groups()
    with pytest.raises(asyncio.CancelledError):
        await crashing.poll_once(block_ms=50)
    assert written == {sent.id: 1}
    assert not await redis.exists(f"inbox:tests:{sent.id}")
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 1

    async def handle(e: Envelope) -> None:
        marked_while_handling.append(bool(await redis.exists(f"inbox:tests:{e.id}")))
        written[e.id] = 1

    async with running(make_consumer(redis, handle, visibility_timeout=0.3)):
        await eventually(lambda: _nothing_pending(redis))
    assert marked_while_handling == [False]
    assert written == {sent.id: 1}
    assert await redis.exists(f"inbox:tests:{sent.id}")


async def test_consumer_span_continues_the_producer_trace(
    redis: Any, spans: InMemorySpanExporter
) -> None:
    with tracer("tests").start_as_current_span("user action") as producer_span:
        sent = event(6)
        await EventBus(redis).publish(STREAM, sent)
    done = asyncio.Event()

    async def handle(_: Envelope) -> None:
        done.set()

    async with running(make_consumer(redis, handle)):
        await asyncio.wait_for(done.wait(), timeout=5)
    [consumer_span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consumer_span.context.trace_id == producer_span.get_span_context().trace_id
    assert consumer_span.parent is not None
    assert consumer_span.parent.span_id == producer_span.get_span_context().span_id
    assert consumer_span.attributes["messaging.message.id"] == sent.id


async def test_stop_ends_the_worker_promptly(redis: Any) -> None:
    consumer = Consumer(
        redis, group="tests", handlers={STREAM: _noop}, inbox=RedisInbox(redis), block_ms=2000
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 3  # at most one blocking read


async def test_consumer_recreates_its_group_when_redis_lost_its_data(redis: Any) -> None:
    """Issue 8.4: a Redis restarted without its data has no consumer groups; every read answers
    NOGROUP. The consumer must make its group again and carry on, not log it forever."""
    bus = EventBus(redis)
    seen: list[str] = []

    async def handle(e: Envelope) -> None:
        seen.append(e.id)

    consumer = make_consumer(redis, handle)
    async with running(consumer):
        before = event(1)
        await bus.publish(STREAM, before)
        await eventually(lambda: _true(before.id in seen))
        await redis.flushall()  # what a Redis restarted without its data looks like
        after = event(2)
        await bus.publish(STREAM, after)
        await eventually(lambda: _true(after.id in seen))
        await eventually(lambda: _pending_is(redis, 0, lambda: True))
        await consumer.checks()[0].probe()  # and it reports itself ready (raises if not)
    assert seen == [before.id, after.id]


async def test_readiness_reports_a_consumer_that_cannot_consume(
    redis: Any, service_env: dict[str, Any]
) -> None:
    """/health says 503 while a worker's consumer cannot read, although Redis answers pings,
    and 200 again once it can; no service has to wire that itself."""

    @contextlib.asynccontextmanager
    async def setup(platform: Platform) -> AsyncIterator[Wiring]:
        redis_client = platform.require_redis()
        consumer = Consumer(
            redis_client,
            group="tests",
            handlers={STREAM: _noop},
            inbox=RedisInbox(redis_client),
            block_ms=50,
            unready_after=0.5,
        )
        yield Wiring(workers=[consumer])

    settings = load_settings(SampleSettings, {}, **service_env, health_timeout_seconds=0.5)
    app = create_app(settings, prefix="/api/sample", title="s", route_handlers=[], setup=setup)
    async with app_client(app) as client:

        async def health_is(status: int) -> bool:
            return bool((await client.get("/health")).status_code == status)

        await eventually(lambda: health_is(200))
        # Something else took the stream's key: every read fails, Redis itself is fine.
        await redis.delete(STREAM)
        await redis.set(STREAM, "not a stream")
        await eventually(lambda: health_is(503))
        body = (await client.get("/health")).json()
        assert body["failing"] == ["consumer:tests"]
        assert "WRONGTYPE" in body["checks"]["consumer:tests"]["error"]
        await redis.delete(STREAM)
        await eventually(lambda: health_is(200))


async def _noop(_: Envelope) -> None:
    return None


async def _true(value: bool) -> bool:
    return value


async def _len_at_least(redis: Any, stream: str, n: int) -> bool:
    return bool(await redis.xlen(stream) >= n)


async def _pending_is(redis: Any, n: int, calls_needed: Callable[[], bool]) -> bool:
    return calls_needed() and (await redis.xpending(STREAM, "tests"))["pending"] == n


# --- batch mode ---------------------------------------------------------------------------

OTHER = "events.tests.other"


class Sink:
    """A batch handler that stores events by id (idempotent, as the mode requires), can be
    made to fail (a store away) and rejects events whose data says ``poison``."""

    def __init__(self) -> None:
        self.stored: dict[str, Envelope] = {}
        self.batches: list[list[str]] = []
        self.down = False

    async def __call__(self, batch: Sequence[Delivery]) -> Rejections:
        self.batches.append([d.event.id for d in batch])
        if self.down:
            raise ConnectionError("store unreachable")
        self.stored.update({d.event.id: d.event for d in batch if not d.event.data.get("poison")})
        return [(d, "poisoned") for d in batch if d.event.data.get("poison")]


def batch_consumer(redis: Any, sink: Sink, **kw: Any) -> BatchConsumer:
    options = {"block_ms": 50, "backoff_base": 0.1, "backoff_max": 0.4, **kw}
    return BatchConsumer(redis, group="tests", streams=[STREAM, OTHER], handler=sink, **options)


async def _settled(redis: Any) -> bool:
    for stream in (STREAM, OTHER):
        groups = await redis.xinfo_groups(stream)
        if [g["name"] for g in groups] != ["tests"] or groups[0]["pending"] or groups[0]["lag"]:
            return False
    return True


async def test_a_batch_across_streams_is_handled_together_and_acked_once(redis: Any) -> None:
    sent = [event(n) for n in range(5)]
    async with redis.pipeline(transaction=True) as at_once:
        for n, e in enumerate(sent):
            at_once.xadd(STREAM if n % 2 else OTHER, {"envelope": e.encode()})
        at_once.xadd(STREAM, {"envelope": sent[0].encode()})  # the same event again
        await at_once.execute()
    sink = Sink()
    async with running(batch_consumer(redis, sink)):
        await eventually(lambda: _settled(redis))
    assert sorted(sink.stored) == sorted(e.id for e in sent)
    assert sorted(sink.batches[0]) == sorted(e.id for e in sent)  # one batch, the copy dropped
    assert await redis.xlen(dead_letter_stream("tests")) == 0


async def test_a_failing_batch_waits_unacked_and_is_handed_over_again(redis: Any) -> None:
    """The store is away: nothing acked, nothing dead-lettered, tried again with back-off;
    the undecodable entry and the rejected event are dead-lettered once, after it is back."""
    sent = [event(1), event(2), event(3, poison=True)]
    for e in sent:
        await EventBus(redis).publish(STREAM, e)
    await redis.xadd(STREAM, {"envelope": "{not json"})
    sink = Sink()
    sink.down = True
    async with running(batch_consumer(redis, sink)):

        async def tried(times: int) -> bool:
            return len(sink.batches) >= times

        await eventually(lambda: tried(4))
        assert (await redis.xpending(STREAM, "tests"))["pending"] == 4
        assert await redis.xlen(dead_letter_stream("tests")) == 0
        assert all(b == sink.batches[0] for b in sink.batches)  # the same batch each time
        sink.down = False
        await eventually(lambda: _settled(redis))
    assert sorted(sink.stored) == sorted(e.id for e in sent[:2])
    dead = [fields for _, fields in await redis.xrange(dead_letter_stream("tests"))]
    assert sorted(d["error"].split(":")[0] for d in dead) == ["poisoned", "undecodable envelope"]
    assert all(int(d["attempts"]) >= 4 for d in dead)


async def test_a_batch_left_by_a_crashed_consumer_is_claimed_by_another(redis: Any) -> None:
    sent = [event(n) for n in range(3)]
    for e in sent:
        await EventBus(redis).publish(STREAM, e)
    crashed = Sink()
    crashed.down = True  # read, never acked: what a process killed mid-batch leaves
    first = batch_consumer(redis, crashed, name="crashed-pod")
    await first.ensure_groups()
    assert await first.poll_once() == 0
    assert (await redis.xpending(STREAM, "tests"))["pending"] == 3
    survivor = Sink()
    async with running(batch_consumer(redis, survivor, visibility_timeout=0.3)):
        await eventually(lambda: _settled(redis))
    assert sorted(survivor.stored) == sorted(e.id for e in sent)


async def test_a_batch_consumer_recreates_its_groups_and_links_its_span_to_the_producers(
    redis: Any, spans: InMemorySpanExporter
) -> None:
    sink = Sink()
    with tracer("tests").start_as_current_span("user action") as producer_span:
        before = event(1)
        await EventBus(redis).publish(STREAM, before)
    async with running(batch_consumer(redis, sink)) as _:
        await eventually(lambda: _true(before.id in sink.stored))
        await redis.flushall()  # a Redis restarted without its data
        after = event(2)
        await EventBus(redis).publish(OTHER, after)
        await eventually(lambda: _true(after.id in sink.stored))
    [first, *_] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert first.attributes["messaging.batch.message_count"] == 1
    [link] = first.links
    assert link.context.span_id == producer_span.get_span_context().span_id
