"""challenge-service's rules, without servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from challenge_service.domain.items import MAX_QUANTITY, new_item, normalise_name
from deepiri_kit import Invalid

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_names_collapse_whitespace() -> None:
    assert normalise_name("  a \t thing\n") == "a thing"
    item = new_item(item_id="i1", owner="alice", name=" a  b ", quantity=2, now=NOW)
    assert (item.name, item.quantity, item.owner, item.created_at) == ("a b", 2, "alice", NOW)


@pytest.mark.parametrize(("name", "quantity"), [("   ", 1), ("ok", 0), ("ok", MAX_QUANTITY + 1)])
def test_rules_refuse_blank_names_and_quantities_out_of_range(name: str, quantity: int) -> None:
    with pytest.raises(Invalid):
        new_item(item_id="i1", owner="alice", name=name, quantity=quantity, now=NOW)
