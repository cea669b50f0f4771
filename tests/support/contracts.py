"""What every event contract must do (``deepiri_kit.contracts``), checked against a payload as
its producer puts it on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

from deepiri_kit.contracts import ContractError, Event, Stream
from deepiri_kit.events import Envelope, event_envelope

# Wrong for every field type a contract uses (str, numbers, bool, times, literals, lists,
# maps, nested structs): an array holding an object holding an array.
ILL_TYPED = [{"x": []}]


def assert_contract(stream: Stream, contract: type[Event], wire: Mapping[str, Any]) -> None:
    """``wire`` decodes into ``contract`` and survives the trip producer → bus → consumer
    unchanged; a payload missing any required field, with any field ill-typed, of another
    type or not an object at all is refused."""
    assert stream.types.get(contract.TYPE) is contract, f"{stream} does not declare {contract}"

    event = contract.from_data(wire)
    sent = event_envelope(event, source="producer", user_id="u1", event_id="e1")
    received = Envelope.decode(sent.encode())
    assert (received.type, received.id, received.user_id) == (contract.TYPE, "e1", "u1")
    assert contract.decode(received) == event
    assert stream.decode(received) == event
    # Every field the producer sent is declared: nothing on the wire is silently dropped.
    assert set(wire) <= set(received.data), set(wire) - set(received.data)

    for field in msgspec.structs.fields(contract):
        if field.required:
            missing = {k: v for k, v in wire.items() if k != field.encode_name}
            with pytest.raises(ContractError, match=field.encode_name):
                contract.from_data(missing)
        with pytest.raises(ContractError, match=field.encode_name):
            contract.from_data({**wire, field.encode_name: ILL_TYPED})

    other = Envelope(**{**msgspec.structs.asdict(received), "type": f"{contract.TYPE}.unknown"})
    with pytest.raises(ContractError):
        contract.decode(other)
    with pytest.raises(ContractError):
        stream.decode(other)
    with pytest.raises(ContractError):
        contract.from_data(ILL_TYPED)  # type: ignore[arg-type]
