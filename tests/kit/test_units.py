"""Pure pieces of the kit: cursors, operator-key guard, circuit breaker, back-off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from deepiri_kit.events import Consumer
from deepiri_kit.models import reject_operator_keys
from deepiri_kit.pagination import decode_cursor, encode_cursor, keyset_filter
from deepiri_kit.problems import BadRequest
from deepiri_kit.retry import backoff
from deepiri_kit.upstream import CircuitBreaker

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value", ["text", 42, 1.5, None, datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)]
)
def test_cursor_round_trips(value: object) -> None:
    assert decode_cursor(encode_cursor("due", value, "abc"), "due") == (value, "abc")


@pytest.mark.parametrize("bad", ["", "!!!", "e30", "WyJ4Il0"])
def test_bad_cursors_are_400(bad: str) -> None:
    with pytest.raises(BadRequest):
        decode_cursor(bad, "due")


def test_cursor_for_another_sort_is_refused() -> None:
    with pytest.raises(BadRequest, match="different sort"):
        decode_cursor(encode_cursor("due", 1, "a"), "created")


def test_keyset_filter_orders_ties_by_id() -> None:
    assert keyset_filter("due", True, 5, "x") == {
        "$or": [{"due": {"$lt": 5}}, {"due": 5, "_id": {"$lt": "x"}}]
    }


@pytest.mark.parametrize(
    "value",
    [{"$where": "1"}, {"a.b": 1}, {"ok": [{"$gt": 1}]}, {"deep": {"er": {"$ne": 1}}}],
)
def test_operator_keys_are_rejected(value: object) -> None:
    with pytest.raises(BadRequest):
        reject_operator_keys(value)


def test_plain_documents_pass() -> None:
    reject_operator_keys({"a": [1, {"b": "c$"}], "d": None})


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, reset_after=10, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.state == "half-open"
    assert breaker.allow()  # one trial call
    assert not breaker.allow()  # and only one
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 20.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"


def test_consumer_backoff_doubles_and_is_capped() -> None:
    consumer = Consumer.__new__(Consumer)
    consumer.backoff_base, consumer.backoff_max = 1.0, 10.0
    assert [consumer.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_one_backoff_schedule_grows_by_its_factor_up_to_its_limit() -> None:
    assert [backoff(n, first=1.0, limit=10.0) for n in range(0, 7)] == [1, 1, 2, 4, 8, 10, 10]
    assert [backoff(n, first=0.1, factor=3) for n in (1, 2, 3)] == pytest.approx([0.1, 0.3, 0.9])
    assert [backoff(n, first=0.05, factor=4, limit=0.2) for n in (1, 2, 3)] == [0.05, 0.2, 0.2]
