"""`python -m bench`: zig against raw confluent-kafka, scenario by scenario, in one run on the same topic data.

Each scenario runs `--runs` times (3 by default); the report gives the median and the spread (min..max) of each
figure, and the ratio zig / raw of the medians. `--smoke` shrinks every size so CI can run it in seconds; its
figures mean nothing. The broker is an embedded tansu, or Apache Kafka itself with `--broker apache-kafka` (the test
suite's single-node KRaft broker, fetched with mvn), unless `--bootstrap-servers` names a running Kafka.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench import handlers, raw_loops
from bench.raw_loops import Settings
from zig_cli import config as config_module
from zig_cli import embedded, kafka, loader, membership, runner
from zig_cli import handlers as zig_handlers

ROOT = Path(__file__).parent.parent
VALUE = b"x" * 100
PARTITIONS = 4


@dataclass(frozen=True)
class Sizes:
    messages: int  # throughput scenarios
    bulk: int  # zig send --file
    backlog: tuple[int, int]  # memory: a small and a large backlog, to show RSS does not grow with it
    startup_runs: int
    bulk_runs: int  # at least this many bulk-send runs, whatever --runs says
    keyed: tuple[int, int]  # concurrency: messages, and the keys they are spread over
    join_attempts: int  # concurrency: runs of a configuration until every member joined before messages flowed


FULL = Sizes(
    messages=1_000_000,
    bulk=1_000_000,
    backlog=(200_000, 1_000_000),
    startup_runs=5,
    bulk_runs=5,
    keyed=(20_000, 1_000),
    join_attempts=4,
)
SMOKE = Sizes(
    messages=2_000, bulk=5_000, backlog=(1_000, 3_000), startup_runs=2, bulk_runs=1, keyed=(400, 100), join_attempts=1
)


@dataclass
class Figure:
    """One measured quantity over several runs, for zig and (when there is one) its baseline."""

    scenario: str
    unit: str
    higher_is_better: bool
    zig: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    baseline: str = "raw confluent-kafka"
    target: str = ""
    notes: list[str] = field(default_factory=list)
    # Per-key order violations the paced handlers saw in each run (scenarios that watch the order; must be 0).
    zig_violations: list[int] | None = None
    raw_violations: list[int] | None = None
    # The same raw loop with librdkafka's defaults (consuming scenarios): what zig's defaults give an untuned user.
    defaults: list[float] = field(default_factory=list)

    def ratio(self, against: list[float] | None = None) -> float | None:
        """zig's median over the baseline's (or over `against`'s)."""
        baseline = self.raw if against is None else against
        if not self.zig or not baseline or statistics.median(baseline) == 0:
            return None
        return statistics.median(self.zig) / statistics.median(baseline)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "unit": self.unit,
            "baseline": self.baseline,
            "target": self.target,
            "zig": {"runs": self.zig, "median": _median(self.zig)},
            "raw": {"runs": self.raw, "median": _median(self.raw)},
            "ratio": self.ratio(),
            "defaults": {"runs": self.defaults, "median": _median(self.defaults), "ratio": self.ratio(self.defaults)},
            "notes": self.notes,
            "order_violations": None
            if self.zig_violations is None
            else {"zig": self.zig_violations, "baseline": self.raw_violations},
        }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --- broker helpers ---


def create_topic(bootstrap: str, partitions: int = PARTITIONS) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the result is in, or it is destroyed early
    admin.create_topics([NewTopic(name, partitions)])[name].result(60)
    return name


def fill(bootstrap: str, topic: str, count: int) -> dict[int, int]:
    """Produce `count` 100-byte messages; returns the end offset of each partition."""
    return _produce_all(bootstrap, topic, ((VALUE, str(i).encode(), None) for i in range(count)))


def fill_keyed(bootstrap: str, topic: str, count: int, keys: int) -> dict[int, int]:
    """Produce `count` messages over `keys` keys, taking turns; each message's value is its sequence number within its
    key (0, 1, 2...), which the paced handlers check. Every key goes to one partition (key number modulo PARTITIONS).
    Returns the end offset of each partition."""
    turns = (divmod(i, keys) for i in range(count))
    return _produce_all(bootstrap, topic, ((b"%d" % seq, b"key-%d" % key, key % PARTITIONS) for seq, key in turns))


def _produce_all(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int | None]]) -> dict[int, int]:
    """Produce (value, key, partition or None) records, waiting for room when the queue is full; returns the end
    offset of each partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10_000})
    ends: dict[int, int] = {}

    def report(error: Any, message: Any) -> None:
        if error is None:
            ends[message.partition()] = max(ends.get(message.partition(), 0), message.offset() + 1)

    for value, key, partition in records:
        where = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=report, **where)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120):
        raise RuntimeError(f"could not fill the benchmark topic {topic}")
    return ends


class Committed:
    """Whether a group's committed offsets have reached the end of every partition."""

    def __init__(self, bootstrap: str, topic: str, group: str, ends: dict[int, int]) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        self._partitions = [TopicPartition(topic, p) for p in ends]
        self._ends = ends

    def __call__(self) -> bool:
        try:
            committed = kafka.committed(self._consumer, self._partitions, 10)
        except KafkaException as error:
            if kafka.unwrap(error)[0].code() in kafka.COORDINATOR_BUSY:
                return False  # asked again on the next look
            raise
        return all(tp.offset >= self._ends[tp.partition] for tp in committed)

    def close(self) -> None:
        self._consumer.close()


class CommitWatch:
    """Notes the moment a group's committed offsets reach the end of every partition."""

    def __init__(self, bootstrap: str, topic: str, group: str, ends: dict[int, int]) -> None:
        self.done_at: float | None = None
        self._committed = Committed(bootstrap, topic, group, ends)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self._committed():
                self.done_at = time.perf_counter()
                return
            time.sleep(0.02)

    def wait(self, timeout: float) -> float:
        self._thread.join(timeout)
        self._stop.set()
        self._committed.close()
        if self.done_at is None:
            raise RuntimeError("offsets were not all committed in time")
        return self.done_at


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.005)


# --- scenario 1-3: consuming ---


def zig_config(
    bootstrap: str,
    topic: str,
    handler: str,
    stream: bool = False,
    threads: int = 1,
    retry: dict[str, Any] | None = None,
    route_settings: dict[str, Any] | None = None,
) -> config_module.Config:
    settings: dict[str, Any] = {
        **(route_settings or {}),
        "handler-fn": f"bench.handlers/{handler}",
        "bootstrap-servers": bootstrap,
        "origin-topic": topic,
        "auto-offset-reset-config": "earliest",
        "session-timeout-ms-config": 6000,
        "commit-interval-ms": 100,
    }
    group = f"zig-{uuid.uuid4().hex[:8]}"
    if stream:
        settings |= {"application-id": group, "stream-threads-count": threads}
    else:
        settings |= {"consumer-group-id": group, "thread-count": threads, "poll-timeout-ms-config": 100}
    raw = {
        "app-name": f"bench-{uuid.uuid4().hex[:6]}",
        "prometheus": {"enabled": False},
        "http-server": {"enabled": False},
        "retry": retry or {"enabled": False},
        ("stream-routes" if stream else "batch-routes"): {"bench": settings},
    }
    return config_module.validate(raw, "bench", {})


class Assignments(logging.Handler):
    """Notes when zig's workers are given partitions (from their log lines), and how much was handled by then."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[float, int]] = []
        self.warnings: list[str] = []  # said when the run fails, so a failed run shows what zig saw

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("route=%s assigned"):
            self.marks.append(handlers.mark())
        elif record.levelno >= logging.WARNING:
            self.warnings.append(record.getMessage())


class Rate(NamedTuple):
    per_second: float
    late_join: bool  # a member was given partitions only after messages were flowing


def steady_rate(expected: int, marks: list[tuple[float, int]], done: float) -> Rate:
    """Messages per second from the first handled message, or from the group's last rebalance if that came later
    (a member joining late makes everyone stop for a group join, which is not a cost of the loop being measured),
    to the last committed offset."""
    first = handlers.state["first"]
    after_first = [mark for mark in marks if mark[0] > first]
    # A rebalance once every message was handled (a member that joined after the others drained the topic) leaves
    # nothing to time from it: such a run counts from the first message and is marked a late join.
    before_the_end = [mark for mark in after_first if mark[1] < expected]
    started, handled = before_the_end[-1] if before_the_end else (first, 0)
    return Rate((expected - handled) / (done - started), bool(after_first))


def all_members_from_the_start(run: Callable[[], Rate], attempts: int = 4) -> tuple[float, int]:
    """The rate of a run in which every group member had its partitions before messages flowed, and how many runs
    were done again to get one. tansu sometimes answers one member's join a second after the other's; that member's
    partitions then wait while the other drains its own share alone, so the run measures one consumer, not two.
    Applied to zig and the raw loop alike; after `attempts` the last run counts as it is."""
    for attempt in range(attempts):
        rate = run()
        if not rate.late_join:
            return rate.per_second, attempt
    return rate.per_second, attempts - 1


def run_zig(cfg: config_module.Config, bootstrap: str, topic: str, ends: dict[int, int], expected: int) -> Rate:
    """Messages per second of zig (see steady_rate)."""
    handlers.reset()
    route = cfg.routes[0]
    group = route.group_id
    zig = runner.Runner(cfg, {route.name: zig_handlers.resolve(route.handler)})
    watch = CommitWatch(bootstrap, topic, group, ends)
    assignments = Assignments()
    worker_log = logging.getLogger("zig_cli.worker")
    worker_log.addHandler(assignments)
    worker_log.setLevel(logging.INFO)
    worker_log.propagate = False  # only noted, not printed
    try:
        # Until the group has committed the end of every partition, not until the handlers counted `expected`: a
        # rebalance hands the messages in hand to another member again, and those count twice.
        _run_until_handled(zig, expected, finished=lambda: watch.done_at is not None)
        done = watch.wait(60)
    except RuntimeError as error:
        raise RuntimeError(f"{error}; zig warned: {assignments.warnings[-5:] or 'nothing'}") from error
    finally:
        worker_log.removeHandler(assignments)
    return steady_rate(expected, assignments.marks, done)


def _run_until_handled(zig: runner.Runner, expected: int, finished: Callable[[], bool] | None = None) -> None:
    """Start zig, wait until the bench handlers have seen `expected` messages (or until `finished`), stop it; raises
    when a worker failed."""
    done = finished or (lambda: handlers.state["count"] >= expected)
    zig.start()
    try:
        _wait(lambda: done() or zig.stop.is_set(), 600, f"zig to handle {expected:,} messages")
    finally:
        zig.stop.set()
        zig.wait(60)
        zig.close(30)
    if zig.failure is not None:
        raise RuntimeError(f"zig stopped: {zig.failure}") from zig.failure


def run_zig_batch(bootstrap: str, topic: str, ends: dict[int, int], expected: int, threads: int) -> Rate:
    """zig on a batch route with the no-op handler, in a consumer group of its own."""
    return run_zig(zig_config(bootstrap, topic, "noop_batch", threads=threads), bootstrap, topic, ends, expected)


def run_raw_batch(bootstrap: str, topic: str, ends: dict[int, int], threads: int, settings: Settings) -> Rate:
    """The hand-written batch loop (see raw_loops) on `threads` consumers, with zig's client settings or
    librdkafka's defaults."""
    handlers.reset()
    cfg = zig_config(bootstrap, topic, "noop_batch", threads=threads)
    group = raw_loops.new_group()
    expected = sum(ends.values())
    marks: list[tuple[float, int]] = []
    stop = threading.Event()
    watch = CommitWatch(bootstrap, topic, group, ends)
    on_assign = lambda *_: marks.append(handlers.mark())  # noqa: E731
    workers = [
        threading.Thread(target=raw_loops.batch_loop, args=(cfg, group, thread, settings, stop, on_assign), daemon=True)
        for thread in range(threads)
    ]
    for worker in workers:
        worker.start()
    done = watch.wait(600)
    stop.set()
    for worker in workers:
        worker.join(60)
    return steady_rate(expected, marks, done)


def run_raw_stream(bootstrap: str, topic: str, ends: dict[int, int], settings: Settings) -> Rate:
    """The hand-written per-message loop (see raw_loops), with zig's client settings or librdkafka's defaults."""
    handlers.reset()
    cfg = zig_config(bootstrap, topic, "noop_stream", stream=True)
    group = raw_loops.new_group()
    expected = sum(ends.values())
    marks: list[tuple[float, int]] = []
    watch = CommitWatch(bootstrap, topic, group, ends)
    on_assign = lambda *_: marks.append(handlers.mark())  # noqa: E731
    consumer = raw_loops.stream_loop(cfg, group, settings, lambda: handlers.state["count"] >= expected, on_assign)
    done = watch.wait(60)
    consumer.close()
    return steady_rate(expected, marks, done)


def handled_time(cfg: config_module.Config, expected: int) -> float:
    """Seconds from the first handled message until all `expected` have succeeded."""
    handlers.reset()
    route = cfg.routes[0]
    _run_until_handled(runner.Runner(cfg, {route.name: zig_handlers.resolve(route.handler)}), expected)
    return float(handlers.state["last"] - handlers.state["first"])


# --- the concurrency scenario ---

CONSUMERS = 4  # consumer threads of a paced route: one per partition


@dataclass(frozen=True)
class Paced:
    """A route whose handler takes 10 ms a message (bench.handlers' paced ones) at some concurrency, ordering key."""

    name: str
    handler: str
    stream: bool
    concurrency: int
    target: str = ""

    def run(
        self, bootstrap: str, topic: str, ends: dict[int, int], expected: int, attempts: int
    ) -> tuple[float, int, int]:
        """Messages per second (see steady_rate), runs done again after a late group join, and the per-key order
        violations the handlers saw in the run that counts."""
        settings = {"concurrency": self.concurrency, "ordering": "key"}

        def once() -> Rate:
            cfg = zig_config(
                bootstrap, topic, self.handler, stream=self.stream, threads=CONSUMERS, route_settings=settings
            )
            return run_zig(cfg, bootstrap, topic, ends, expected)

        rate, redone = all_members_from_the_start(once, attempts)
        return rate, redone, int(handlers.state["violations"])


PACED_BASELINE = Paced("stream route, sync, concurrency 1", "paced_stream", stream=True, concurrency=1)
PACED = (
    Paced("stream route, sync, concurrency 64", "paced_stream", True, 64, ">= 4,000 msgs/s"),
    Paced("stream route, async, concurrency 256", "paced_stream_async", True, 256, ">= 10,000 msgs/s"),
    Paced("batch route, sync, concurrency 64", "paced_batch", False, 64, ">= 4,000 msgs/s"),
)


# --- scenario 4: bulk send ---


def bulk_file(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(f"key-{i}\t{VALUE.decode()}\n")


def send_config(tmp: Path, bootstrap: str) -> Path:
    path = tmp / "send.edn"
    path.write_text(
        '{:app-name "bench" :stream-router {:out {:handler-fn "bench.handlers/noop-stream" '
        f':application-id "bench-send" :bootstrap-servers "{bootstrap}" :origin-topic "unused" '
        ':producer {:acks "all"}}} :prometheus {:enabled false} :http-server {:enabled false}}\n',
        encoding="utf-8",
    )
    return path


def _reported_rate(command: list[str], pattern: str, what: str) -> float:
    """Run a bulk sender as a process of its own; the messages per second it reports (the pattern's last group)."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    found = re.search(pattern, result.stdout)
    if result.returncode or not found:
        raise RuntimeError(f"{what} failed: {result.stdout}{result.stderr}")
    return float(found[found.lastindex or 0].replace(",", ""))


def run_zig_bulk(config: Path, topic: str, lines: Path) -> float:
    command = [sys.executable, "-m", "zig_cli", "send", "out", topic, "--file", str(lines), "-c", str(config)]
    return _reported_rate(command + ["--timeout", "120"], r"sent ([\d,]+), failed 0, ([\d,]+) msgs/s", "zig send")


def run_raw_bulk(config: Path, topic: str, lines: Path) -> float:
    """The same producer settings as zig's route, a plain produce loop over the same lines, in a process of its own
    (bench/raw_producer.py), as zig's is."""
    cfg = config_module.validate(loader.load(config), "bench", {})
    properties = kafka.producer_properties(cfg, cfg.route("out"))
    command = [sys.executable, str(ROOT / "bench" / "raw_producer.py"), json.dumps(properties), topic, str(lines)]
    return _reported_rate(command, r"RATE=([\d.]+)", "raw produce")


# --- scenario 5: start-up ---


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, cwd=ROOT, timeout=120, env={**os.environ, **(env or {})})
    if result.returncode:
        raise RuntimeError(f"{command} failed: {result.stderr.decode()[-500:]}")
    return time.perf_counter() - started


# --- scenario 6: memory ---


def _vm_hwm_kb(pid: int) -> int:
    """The process's peak resident set so far (VmHWM), which exec resets, unlike the rusage a fork inherits."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(command: list[str], until: Callable[[], bool], timeout: float, stop: bool = False) -> float:
    """Run `command` until it exits (it then prints its own VmHWM_KB=...), or until `until()` holds (then read its
    VmHWM and SIGTERM it when `stop`); its peak RSS in MB."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    peak_kb = 0
    while process.poll() is None:
        peak_kb = max(peak_kb, _vm_hwm_kb(process.pid))
        if until():
            peak_kb = max(peak_kb, _vm_hwm_kb(process.pid))
            if stop:
                process.terminate()
            process.wait(60)
            break
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"{command} did not finish within {timeout:g} s")
        time.sleep(0.05)
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    if process.returncode != 0:
        raise RuntimeError(f"{command} exited with {process.returncode}: {output[-2000:]}")
    reported = re.search(r"VmHWM_KB=(\d+)", output)
    if reported:
        peak_kb = max(peak_kb, int(reported[1]))
    return peak_kb / 1024


def memory_figures(bootstrap: str, tmp: Path, backlog: int) -> tuple[float, float]:
    topic = create_topic(bootstrap)
    ends = fill(bootstrap, topic, backlog)
    group = f"zig-mem-{uuid.uuid4().hex[:6]}"
    config = tmp / f"mem-{backlog}.edn"
    config.write_text(
        '{:app-name "bench-mem" :retry {:enabled false} :prometheus {:enabled false} :http-server {:enabled false} '
        f':batch-routes {{:m {{:handler-fn "bench.handlers/noop-batch" :consumer-group-id "{group}" '
        f':bootstrap-servers "{bootstrap}" :origin-topic "{topic}" :auto-offset-reset-config "earliest" '
        ":session-timeout-ms-config 6000 :commit-interval-ms 100 :thread-count 1}}}\n",
        encoding="utf-8",
    )
    committed = Committed(bootstrap, topic, group, ends)
    try:
        zig = peak_rss_mb([sys.executable, "-m", "zig_cli", "run", str(config)], committed, 600, stop=True)
    finally:
        committed.close()
    # the raw loop of the same route: its client settings, batch size and poll timeout
    cfg = config_module.validate(loader.load(config), "bench", {})
    route = cfg.routes[0]
    settings = raw_loops.consumer_settings(cfg, 0, raw_loops.new_group(), "zig")
    shape = [
        str(backlog),
        json.dumps(settings),
        str(route["max-poll-records"]),
        str(route["poll-timeout-ms-config"] / 1000),
    ]
    raw = peak_rss_mb(
        [sys.executable, str(ROOT / "bench" / "raw_consumer.py"), topic, *shape],
        lambda: False,
        600,
    )
    return zig, raw


# --- the run ---


def run_raw_retry(bootstrap: str, topic: str, expected: int, backoff_ms: int, safe: bool = False) -> float:
    """A hand-written retry loop for the same job, as lean as such a loop gets: the batch loop, every tenth message
    produced to a retry topic with one due-time header, and a second consumer that sleeps until each message is
    due. Unless `safe`, it does NOT wait for the broker's acknowledgement before the commit (faster than
    at-least-once allows); `safe`, it flushes the producer before each commit, the plain way to be at-least-once.
    Seconds from the first handled message until all `expected` are handled."""
    handlers.reset()
    retry_topic = create_topic(bootstrap)
    group = raw_loops.new_group()
    stop = threading.Event()
    # zig's own client settings for the same route: its consumer, its retry consumer and its forwarding producer
    cfg = zig_config(
        bootstrap, topic, "retry_tenth_once", retry={"enabled": True, "count": 1, "backoff-ms": backoff_ms}
    )
    route = cfg.routes[0]
    first_settings = raw_loops.consumer_settings(cfg, 0, group, "zig")
    retry_settings = kafka.retry_consumer_properties(kafka.consumer_properties(cfg, route, membership.RETRY_THREAD)) | {
        "group.id": f"{group}-retry"
    }
    producer_settings = kafka.forwarding_producer_properties(cfg, route)

    def store(consumer: Consumer, messages: list[Any]) -> None:
        consumer.store_offsets(offsets=raw_loops.next_offsets(messages))

    def first_delivery() -> None:
        consumer = Consumer(first_settings)
        producer = Producer(producer_settings)
        consumer.subscribe([topic])
        while not stop.is_set():
            messages = raw_loops.usable(consumer.consume(500, 0.1))
            if not messages:
                continue
            due = [("due-ms", b"%d" % (time.time() * 1000 + backoff_ms))]
            for message in handlers.raw_retry_tenth_once(messages):
                while True:
                    try:
                        producer.produce(retry_topic, message.value(), message.key(), headers=due)
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
            if safe and producer.flush(30):
                raise RuntimeError("the raw retry loop's writes were not acknowledged within 30 s")
            store(consumer, messages)
        producer.flush(30)
        consumer.close()

    def retries() -> None:
        consumer = Consumer(retry_settings)
        consumer.subscribe([retry_topic])
        while not stop.is_set():
            messages = raw_loops.usable(consumer.consume(500, 0.1))
            if not messages:
                continue
            wait = max(int(m.headers()[0][1]) for m in messages) / 1000 - time.time()
            if wait > 0:
                time.sleep(wait)
            handlers.noop_batch(messages)
            store(consumer, messages)
        consumer.close()

    loops = [threading.Thread(target=first_delivery, daemon=True), threading.Thread(target=retries, daemon=True)]
    for loop in loops:
        loop.start()
    try:
        _wait(lambda: handlers.state["count"] >= expected, 600, f"the raw retry loop to handle {expected:,} messages")
    finally:
        stop.set()
        for loop in loops:
            loop.join(60)
    return float(handlers.state["last"] - handlers.state["first"])


SCENARIOS = ("batch", "stream", "retry", "concurrency", "bulk", "startup", "memory")


def measure(
    bootstrap: str, sizes: Sizes, runs: int, log: Callable[[str], None], only: tuple[str, ...] = SCENARIOS
) -> list[Figure]:
    figures: list[Figure] = []
    n = sizes.messages
    topic, ends = "", {}
    if {"batch", "stream", "retry"} & set(only):
        topic = create_topic(bootstrap)
        ends = fill(bootstrap, topic, n)
        log(f"filled {topic} with {n:,} messages of 100 bytes on {PARTITIONS} partitions")

    def done(figure: Figure) -> None:
        figures.append(figure)
        ratio = figure.ratio()
        log(f"  {figure.scenario}: ratio {'n/a' if ratio is None else f'{ratio:.2f}'}")

    if "batch" in only:
        for threads in (1, 2):
            figure = Figure(f"batch route, no-op handler, thread-count {threads}", "msgs/s", True, target=">= 0.95")
            redone = {"zig": 0, "raw": 0, "defaults": 0}
            for _ in range(runs):
                for side, rates, run in (
                    ("zig", figure.zig, functools.partial(run_zig_batch, bootstrap, topic, ends, n, threads)),
                    ("raw", figure.raw, functools.partial(run_raw_batch, bootstrap, topic, ends, threads, "zig")),
                    (
                        "defaults",
                        figure.defaults,
                        functools.partial(run_raw_batch, bootstrap, topic, ends, threads, "defaults"),
                    ),
                ):
                    rate, again = all_members_from_the_start(run)
                    rates.append(rate)
                    redone[side] += again
            if threads > 1:
                figure.notes.append(
                    f"runs done again after a late group join: zig {redone['zig']}, raw {redone['raw']}, "
                    f"raw with librdkafka's defaults {redone['defaults']}"
                )
            done(figure)

    if "stream" in only:
        figure = Figure("stream route, no-op handler", "msgs/s", True, target=">= 0.85")
        for _ in range(runs):
            config = zig_config(bootstrap, topic, "noop_stream", stream=True)
            figure.zig.append(run_zig(config, bootstrap, topic, ends, n).per_second)
            figure.raw.append(run_raw_stream(bootstrap, topic, ends, "zig").per_second)
            figure.defaults.append(run_raw_stream(bootstrap, topic, ends, "defaults").per_second)
        done(figure)

    if "retry" in only:
        backoff_ms = 500
        figure = Figure(
            f"retry 10% once (backoff {backoff_ms} ms): seconds until all handled",
            "s",
            False,
            baseline="zig without retries",
            target=f"<= no-retry x 1.2 + {backoff_ms} ms",
        )
        # What a hand-written loop takes for the same job, in the same run: the target is read against zig without
        # retries, and this says how much of a miss the client, the broker and the machine leave to zig.
        against_raw = Figure(
            f"retry 10% once (backoff {backoff_ms} ms): zig against a raw retry loop",
            "s",
            False,
            baseline="raw confluent-kafka retry loop, no delivery wait",
            target="none: what the client and broker allow",
        )
        against_safe_raw = Figure(
            f"retry 10% once (backoff {backoff_ms} ms): zig against a raw retry loop that flushes before commit",
            "s",
            False,
            baseline="raw confluent-kafka retry loop, producer flushed before each commit",
            target="none: what at-least-once costs a plain loop",
        )
        for _ in range(runs):
            retry = {"enabled": True, "count": 1, "backoff-ms": backoff_ms}
            figure.zig.append(handled_time(zig_config(bootstrap, topic, "retry_tenth_once", retry=retry), n))
            figure.raw.append(handled_time(zig_config(bootstrap, topic, "noop_batch"), n))
            against_raw.raw.append(run_raw_retry(bootstrap, topic, n, backoff_ms))
            against_safe_raw.raw.append(run_raw_retry(bootstrap, topic, n, backoff_ms, safe=True))
        against_raw.zig = against_safe_raw.zig = figure.zig
        done(figure)
        done(against_raw)
        done(against_safe_raw)

    if "concurrency" in only:
        count, keys = sizes.keyed
        keyed_topic = create_topic(bootstrap)
        keyed_ends = fill_keyed(bootstrap, keyed_topic, count, keys)
        log(f"filled {keyed_topic} with {count:,} messages over {keys:,} keys on {PARTITIONS} partitions")
        routes = (PACED_BASELINE, *PACED)
        paced_rates: dict[Paced, list[float]] = {route: [] for route in routes}
        paced_violations: dict[Paced, list[int]] = {route: [] for route in routes}
        paced_redone = dict.fromkeys(routes, 0)
        for _ in range(runs):
            for route in routes:
                rate, again, seen = route.run(bootstrap, keyed_topic, keyed_ends, count, sizes.join_attempts)
                paced_rates[route].append(rate)
                paced_violations[route].append(seen)
                paced_redone[route] += again
        setup = f"10 ms a message, {keys:,} keys, {CONSUMERS} consumer threads"
        for route in PACED:
            figure = Figure(
                f"{setup}: {route.name}",
                "msgs/s",
                True,
                zig=paced_rates[route],
                raw=paced_rates[PACED_BASELINE],
                baseline=f"zig, {PACED_BASELINE.name}",
                target=route.target,
                zig_violations=paced_violations[route],
                raw_violations=paced_violations[PACED_BASELINE],
            )
            figure.notes.append(
                f"runs done again after a late group join: zig {paced_redone[route]}, "
                f"baseline {paced_redone[PACED_BASELINE]}"
            )
            done(figure)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        config = send_config(tmp, bootstrap)
        if "bulk" in only:
            lines = tmp / "lines.txt"
            bulk_file(lines, sizes.bulk)
            figure = Figure(f"zig send --file, {sizes.bulk:,} messages", "msgs/s", True, target=">= 0.9")
            # A run takes seconds and swings widely from one to the next: at least 5, and zig and the raw loop take
            # turns going first, so a slow spell of the broker's does not always fall on the same side.
            for run in range(max(runs, sizes.bulk_runs)):
                pair = [
                    (figure.zig, functools.partial(run_zig_bulk, config, create_topic(bootstrap), lines)),
                    (figure.raw, functools.partial(run_raw_bulk, config, create_topic(bootstrap), lines)),
                ]
                for rates, measure_one in pair if run % 2 == 0 else reversed(pair):
                    rates.append(measure_one())
            done(figure)

        if "startup" in only:
            zig_cmd = [sys.executable, "-m", "zig_cli"]
            send_topic = create_topic(bootstrap, 1)
            python_pass = [sys.executable, "-c", "pass"]
            startup = [
                ("start-up: zig --help", zig_cmd + ["--help"], python_pass, "python -c pass", "< 0.5 s"),
                (
                    "start-up: zig validate sample-configs/config.edn",
                    zig_cmd + ["validate", "sample-configs/config.edn"],
                    python_pass,
                    "python -c pass",
                    "< 0.5 s",
                ),
                (
                    "start-up: one zig send, to its delivery report",
                    zig_cmd + ["send", "out", send_topic, "k", "v", "-c", str(config)],
                    [sys.executable, str(ROOT / "bench" / "one_message.py"), bootstrap, send_topic],
                    "a bare one-message producer script",
                    "within 0.3 s of the bare script",
                ),
            ]
            for name, zig_command, raw_command, baseline, target in startup:
                figure = Figure(name, "s", False, baseline=baseline, target=target)
                for _ in range(sizes.startup_runs):
                    figure.zig.append(timed(zig_command))
                    figure.raw.append(timed(raw_command))
                figures.append(figure)
                log(f"  {figure.scenario}: zig {statistics.median(figure.zig):.3f} s")

        if "memory" in only:
            for backlog in sizes.backlog:
                figure = Figure(
                    f"peak RSS of zig run draining {backlog:,} messages",
                    "MB",
                    False,
                    baseline="the raw consume loop, its own process",
                    target="<= 1.5, bounded",
                )
                for _ in range(runs):
                    zig_mb, raw_mb = memory_figures(bootstrap, tmp, backlog)
                    figure.zig.append(zig_mb)
                    figure.raw.append(raw_mb)
                done(figure)
    return figures


def _shown(values: list[float], unit: str) -> str:
    if not values:
        return "n/a"
    fmt = "{:,.0f}" if unit == "msgs/s" else "{:,.3f}" if unit == "s" else "{:,.1f}"
    median, low, high = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{median} {unit} ({low}..{high})"


def _ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}"


def _violations(counts: list[int] | None) -> str:
    """Beside a figure whose handlers watched each key's order: the violations they saw over all runs (must be 0)."""
    return "" if counts is None else f", per-key order violations: {sum(counts)}"


def markdown(figures: list[Figure], header: str) -> str:
    lines = [
        header,
        "",
        "Scenario | zig (median, min..max) | baseline (median, min..max) | zig / baseline | target | "
        "raw loop, librdkafka's defaults | zig / defaults",
        "--- | --- | --- | --- | --- | --- | ---",
    ]
    for f in figures:
        zig = _shown(f.zig, f.unit) + _violations(f.zig_violations)
        baseline = f"{_shown(f.raw, f.unit)} ({f.baseline}){_violations(f.raw_violations)}"
        defaults = _shown(f.defaults, f.unit) if f.defaults else ""
        by_defaults = _ratio(f.ratio(f.defaults)) if f.defaults else ""
        shown_ratio = _ratio(f.ratio())
        lines.append(f"{f.scenario} | {zig} | {baseline} | {shown_ratio} | {f.target} | {defaults} | {by_defaults}")
    notes = [f"- {f.scenario}: {note}" for f in figures for note in f.notes]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


@contextlib.contextmanager
def started_broker(kind: str, bootstrap_servers: str | None) -> Iterator[tuple[str, str]]:
    """The broker to measure on, and how the report names it."""
    if bootstrap_servers:
        yield bootstrap_servers, f"Kafka at {bootstrap_servers}"
    elif kind == "apache-kafka":
        # The test suite's launcher, so that the bench and the tests run the same pinned broker the same way.
        sys.path.insert(0, str(ROOT / "tests"))
        import apache_kafka

        with (
            tempfile.TemporaryDirectory(prefix="bench-apache-kafka-") as folder,
            apache_kafka.start(Path(folder)) as broker,
        ):
            yield broker.bootstrap, f"Apache Kafka {apache_kafka.VERSION} (KRaft, one node, Java {java_version()})"
    else:
        with embedded.running_broker(embedded.free_port()) as address:
            yield address, f"embedded tansu ({embedded.broker_binary().rsplit('/', 1)[-1]})"


def java_version() -> str:
    shown = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    found = re.search(r'version "([^"]+)"', shown)
    return found[1] if found else "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--broker",
        choices=("tansu", "apache-kafka"),
        default="tansu",
        help="the broker to start for the run (default tansu; apache-kafka needs java and mvn)",
    )
    parser.add_argument("--bootstrap-servers", help="a running Kafka to use instead of starting one")
    parser.add_argument("--runs", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: proves the bench runs, no more")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable); the report then holds only these, written as partial.md/json",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where to write the report")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    only = tuple(args.only or SCENARIOS)
    args.out.mkdir(parents=True, exist_ok=True)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with started_broker(args.broker, args.bootstrap_servers) as (address, broker_name):
        figures = measure(address, sizes, args.runs, log, only)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    header = (
        f"zig benchmark{' (smoke: sizes too small to mean anything)' if args.smoke else ''}: {when}; "
        f"broker: {broker_name}; machine: {machine}; {args.runs} run(s) each"
    )
    table = markdown(figures, header)
    name = "smoke" if args.smoke else "latest" if only == SCENARIOS else "partial"
    if args.broker == "apache-kafka" and not args.bootstrap_servers:
        name += "-apache-kafka"  # beside the tansu report, for bench.side_by_side
    (args.out / f"{name}.md").write_text(table, encoding="utf-8")
    (args.out / f"{name}.json").write_text(
        json.dumps(
            {
                "date": when,
                "broker": broker_name,
                "machine": machine,
                "runs": args.runs,
                "smoke": args.smoke,
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(table)
