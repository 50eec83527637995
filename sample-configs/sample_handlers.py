"""Handlers used by the sample configs: importable because they sit beside the config file."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def on_batch(batch: list[Any]) -> dict[str, list[Any]]:
    """Log each batch; nothing to retry or skip."""
    logger.info("received a batch of %d messages", len(batch))
    return {"retry": [], "skip": []}


def on_message(message: Any) -> str:
    """Log each message and report success."""
    logger.info("received %r", message)
    return "success"


def show_batch(batch: list[Any]) -> None:
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
