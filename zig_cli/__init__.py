"""zig: run plain Python handler functions as Kafka workers from one config file.

For handlers: `Message` and `BatchResult` (batch routes), `Outcome` (stream routes), and `send` to publish
through a route's producer. For their tests: `zig_cli.testing`.
"""

import importlib.metadata

from zig_cli.contract import BatchResult, Message, Outcome
from zig_cli.producer import send

__all__ = ["BatchResult", "Message", "Outcome", "send"]
__version__ = importlib.metadata.version("zig-cli")  # pyproject's, the one place the version is written
