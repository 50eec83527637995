"""Building a batch: what the handler sees of each consumed message, however zig builds it."""

from __future__ import annotations

import confluent_kafka
import pytest

from zig_cli import codecs
from zig_cli.worker.batch import Builder


@pytest.mark.parametrize("decoder", ["bytes", "string"])
def test_a_first_delivery_reads_the_same_whichever_way_it_is_built(decoder: str):
    raw = confluent_kafka.Message(
        topic="orders", partition=2, offset=41, key=b"k", value=b"v", headers=[("h", b"1")], timestamp=(1, 77)
    )
    [message] = Builder(codecs.decoder(decoder), codecs.decoder(decoder)).build([raw]).messages
    assert message is not None
    expected_key, expected_value = (b"k", b"v") if decoder == "bytes" else ("k", "v")
    fields = (message.topic, message.partition, message.offset, message.timestamp, message.key, message.value)
    assert fields == ("orders", 2, 41, 77, expected_key, expected_value)
    assert (message.headers, message.retry_count) == ((("h", b"1"),), 0)
