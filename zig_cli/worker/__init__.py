"""A route's workers, made of parts with one job each (the runner puts them together, choosing each once):

loop.py        the consumer loop: subscribe, consume, close, librdkafka's callbacks; nothing per message
gate.py        a retry worker's gate: holds messages until due, pauses and resumes partitions
pipeline.py    one batch through the route: build -> decide -> forward, and its account
batch.py       raw messages -> the `Message`s a handler sees, decode failures, origins (a hot path)
deciding.py    the handler called, its answer read into one `Verdict` per message (a hot path)
forwarding.py  verdicts -> retry and dead-letter records, and their writing
ledger.py      the offsets ledger: the one place offsets are stored and committed
runtime.py     what every worker of a route shares
"""

from zig_cli.worker.loop import ConsumerFactory, ConsumerLike, Worker
from zig_cli.worker.runtime import RouteRuntime

__all__ = ["ConsumerFactory", "ConsumerLike", "RouteRuntime", "Worker"]
