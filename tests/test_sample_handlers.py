"""The sample handlers, tested as a team tests its own: with zig_cli.testing, no Kafka."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import SAMPLES

from zig_cli import testing


@pytest.fixture
def samples(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(SAMPLES))
    import sample_handlers  # type: ignore[import-not-found]

    return sample_handlers


def test_on_batch_dead_letters_what_is_not_an_order_and_says_why(samples: Any):
    # as config.edn reads the orders topic: JSON values
    batch = testing.messages(b'{"id": 1}', b"[1, 2]", b"not json", b'{"id": 2}')
    result = testing.run_batch(samples.on_batch, batch, value_deserializer="json")
    assert result.succeeded == [batch[0], batch[3]]
    assert result.dead_lettered == [batch[1], batch[2]]
    assert result.reasons == {
        batch[1]: "an order is a JSON object, not list",
        batch[2]: "value is not JSON: Expecting value: line 1 column 1 (char 0)",
    }


def test_on_message_dead_letters_an_empty_message(samples: Any):
    stream = testing.messages(b"booked", b"")
    result = testing.run_stream(samples.on_message, stream)
    assert (result.succeeded, result.dead_lettered) == ([stream[0]], [stream[1]])
    assert result.reasons == {stream[1]: "empty message"}


def test_show_batch_logs_every_message(samples: Any, caplog: pytest.LogCaptureFixture):
    caplog.set_level("INFO")
    batch = testing.messages("hello", "world", keys=["a", "b"], topic="quickstart")
    result = testing.run_batch(samples.show_batch, batch, key_deserializer="string", value_deserializer="string")
    assert result.succeeded == batch
    assert [r.getMessage() for r in caplog.records] == [
        "route=quickstart quickstart[0]@0 key='a' value='hello'",
        "route=quickstart quickstart[0]@1 key='b' value='world'",
    ]
