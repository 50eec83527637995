"""zig: run plain Python handler functions as Kafka workers from one config file.

For handlers: `Message` and `BatchResult` (batch routes), `Outcome` (stream routes), and `send` to publish
through a route's producer. For their tests: `zig_cli.testing`.
"""

from zig_cli.contract import BatchResult, Message, Outcome
from zig_cli.producer import send

__all__ = ["BatchResult", "Message", "Outcome", "send"]
__version__ = "0.1.0"
