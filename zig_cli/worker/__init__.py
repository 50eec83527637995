"""A route's workers, made of parts with one job each (the runner puts them together, choosing each once):

loop.py        the consumer loop: subscribe, consume, close, librdkafka's callbacks; nothing per message
assignment.py  the partitions a consumer holds through eager and cooperative rebalances; its readiness
gate.py        a retry worker's gate: holds messages until due, pauses and resumes partitions
lanes.py       consumed messages cut into items by ordering, and which items may be in a handler at once
dispatch.py    the loop's side of handler calls: items handed over and taken back, what is buffered
calls.py       where handler calls run: the loop's thread, a pool of threads, or an event loop
keeper.py      polls for the loop's thread while it is in a long handler call
throttle.py    stops fetching while too much is buffered: waits, pauses, resumes
pipeline.py    one item through the route: build -> decide (where calls run) -> forward (on the loop's thread)
batch.py       raw messages -> the `Message`s a handler sees, decode failures, origins (a hot path)
deciding.py    the handler called, its answer read into one `Verdict` per message (a hot path)
alone.py       on-handler-error split: a batch whose handler raised, handed over again one message at a time
forwarding.py  verdicts -> retry and dead-letter records, and their writing
outcomes.py    finished items applied: forwarded, stored, counted; late ones of revoked partitions dropped
ledger.py      the offsets ledger: the one place offsets are stored and committed
notices.py     the lines telling each dead letter (once written) and retry handed back, rate-limited per route
accounting.py  finished items -> the stats table and the metrics
watchdog.py    handler calls past handler-timeout-ms, for the log, the metrics and /health
runtime.py     what every worker of a route shares
"""

from zig_cli.worker.loop import ConsumerFactory, ConsumerLike, Worker
from zig_cli.worker.runtime import RouteRuntime

__all__ = ["ConsumerFactory", "ConsumerLike", "RouteRuntime", "Worker"]
