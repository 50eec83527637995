"""zig: run plain Python handler functions as Kafka workers from one config file."""

__version__ = "0.1.0"
