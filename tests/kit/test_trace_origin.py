"""Every (re-)publication of an event stays in the trace of the action that decided it: the
inline delivery, the sweep delivering a link its writer left, another writer finishing a
link, and a replay from the journal (real FerretDB and Redis, the kit's tracer)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from deepiri_kit.chain import TRACE, Chain
from deepiri_kit.clock import utcnow
from deepiri_kit.events import BusGuard, EventBus, Journal, journalled, new_event, outbox_entry
from deepiri_kit.tracing import tracer
from support.streams import published

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

STREAM = "events.things"


def trace_of(traceparent: str | None) -> str:
    assert traceparent, "the event carries no trace context"
    return traceparent.split("-")[1]


def hex_trace(span: Any) -> str:
    return format(span.get_span_context().trace_id, "032x")


def publish_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.PRODUCER and s.name == f"{STREAM} publish"
    ]


async def test_the_sweep_publishes_a_left_link_in_the_trace_that_wrote_it(
    redis: Any, mongo: Any, spans: InMemorySpanExporter
) -> None:
    in_repair: list[str] = []

    async def repair(key: str, link: dict[str, Any]) -> None:
        in_repair.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))

    chain = Chain(mongo["things"], EventBus(redis), repair=repair)
    with tracer("tests").start_as_current_span("user action") as action:
        event = new_event("thing.changed", source="t", user_id="u", data={})
        link = await chain.claim("k", 1, {"v": 1}, outbox=[outbox_entry(STREAM, event)])
        # ... and the writer dies before delivering.
    assert link is not None
    assert link[TRACE]["traceparent"].split("-")[1] == hex_trace(action)
    spans.clear()
    # The sweep runs in a worker, outside any request, or (worse) inside another one.
    with tracer("tests").start_as_current_span("someone else's request") as other:
        assert await chain.sweep() == 1
    [sent] = await published(redis, STREAM)
    assert trace_of(sent.traceparent) == hex_trace(action)
    [publish] = publish_spans(spans)
    assert format(publish.context.trace_id, "032x") == hex_trace(action)
    assert in_repair == [hex_trace(action)]
    # Nothing the sweep did for this link landed in the other trace (the XADD, the marker).
    others = [
        s
        for s in spans.get_finished_spans()
        if s.context.trace_id == other.get_span_context().trace_id
    ]
    assert [s.name for s in others] == ["someone else's request"]


async def test_the_inline_publish_span_is_a_child_of_the_events_context(
    redis: Any, mongo: Any, spans: InMemorySpanExporter
) -> None:
    chain = Chain(mongo["things"], EventBus(redis))
    with tracer("tests").start_as_current_span("user action") as action:
        event = new_event("thing.changed", source="t", user_id="u", data={})
        link = await chain.claim("k", 1, {}, outbox=[outbox_entry(STREAM, event)])
        assert link is not None
        assert await chain.deliver(link)
    [publish] = publish_spans(spans)
    assert publish.parent is not None
    assert publish.parent.span_id == action.get_span_context().span_id
    assert publish.attributes is not None
    assert publish.attributes["messaging.message.id"] == event.id


async def test_a_link_finished_by_another_writer_announces_in_the_links_trace(
    redis: Any, mongo: Any
) -> None:
    chain = Chain(mongo["things"], EventBus(redis))
    with tracer("tests").start_as_current_span("first action") as first:
        link = await chain.claim("k", 1, {"v": 1})
    assert link is not None
    with tracer("tests").start_as_current_span("second action") as second:
        with Chain.resumed(link):
            announced = new_event("thing.applied", source="t", user_id="u", data={})
        after = new_event("thing.other", source="t", user_id="u", data={})
    assert trace_of(announced.traceparent) == hex_trace(first)
    assert trace_of(after.traceparent) == hex_trace(second)  # and the context is restored


async def test_a_link_written_before_links_kept_their_trace_resumes_its_events_trace(
    redis: Any, mongo: Any
) -> None:
    with tracer("tests").start_as_current_span("old action") as old:
        entry = outbox_entry(STREAM, new_event("thing.changed", source="t", user_id="u", data={}))
    # An entry and a link as stored before either kept the context beside the payload.
    legacy = {
        "_id": "k:000000000001",
        "_outbox": [{k: v for k, v in entry.items() if k != "traceparent"}],
    }
    with tracer("tests").start_as_current_span("sweep"), Chain.resumed(legacy):
        announced = new_event("thing.applied", source="t", user_id="u", data={})
    assert trace_of(announced.traceparent) == hex_trace(old)


async def test_a_replay_republishes_in_the_trace_of_the_original_action(
    redis: Any, mongo: Any, spans: InMemorySpanExporter
) -> None:
    bus = EventBus(redis)
    with tracer("tests").start_as_current_span("user action") as action:
        event = new_event("thing.changed", source="t", user_id="u", data={})
        await mongo["changes"].insert_one(
            {"_id": 1, "at": utcnow(), **journalled([outbox_entry(STREAM, event)])}
        )
    spans.clear()
    guard = BusGuard(redis, bus, mongo["bus_checkpoints"], [Journal(mongo["changes"])], [STREAM])
    assert await guard.replay(utcnow().replace(year=2000)) == 1
    [sent] = await published(redis, STREAM)
    assert sent.id == event.id
    assert trace_of(sent.traceparent) == hex_trace(action)
    [publish] = publish_spans(spans)
    assert format(publish.context.trace_id, "032x") == hex_trace(action)
