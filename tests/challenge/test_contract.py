"""The contract of ``events.challenge`` (``deepiri_kit.contracts.challenge``), against
what the service publishes."""

from __future__ import annotations

import pytest

from deepiri_kit.contracts import challenge
from support.contracts import assert_contract

pytestmark = pytest.mark.unit


def test_item_created() -> None:
    wire = {"item_id": "i1", "name": "a thing", "quantity": 3}
    assert_contract(challenge.STREAM, challenge.ItemCreated, wire)
