"""Handlers used by the sample configs: importable because they sit beside the config file.

tests/test_sample_handlers.py tests them with zig_cli.testing, without Kafka.
"""

from __future__ import annotations

import logging

from zig_cli import Message

logger = logging.getLogger(__name__)


def on_batch(batch: list[Message]) -> dict[str, dict[Message, str]]:
    """Log each batch; an order that is not a JSON object goes to the dead letters, saying why."""
    logger.info("received a batch of %d messages", len(batch))
    return {
        "dead-letter": {
            m: f"an order is a JSON object, not {type(m.value).__name__}"
            for m in batch
            if not isinstance(m.value, dict)
        }
    }


def on_message(message: Message) -> str | tuple[str, str]:
    """Log each message and report success; an empty one goes to the dead letters, saying why."""
    logger.info("received %r", message)
    if not message.value:
        return "dead-letter", "empty message"
    return "success"


def show_batch(batch: list[Message]) -> None:
    """The quickstart handler: log every message it receives."""
    for message in batch:
        logger.info(
            "route=quickstart %s[%d]@%d key=%r value=%r",
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
        )
