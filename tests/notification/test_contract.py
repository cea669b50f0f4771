"""The contract of ``events.notification`` (``deepiri_kit.contracts.notification``), against
what the service publishes."""

from __future__ import annotations

import pytest

from deepiri_kit.contracts import notification
from support.contracts import assert_contract

pytestmark = pytest.mark.unit


def test_item_created() -> None:
    wire = {"item_id": "i1", "name": "a thing", "quantity": 3}
    assert_contract(notification.STREAM, notification.ItemCreated, wire)
