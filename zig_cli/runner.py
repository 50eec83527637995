"""Build the workers of each route, run them on threads, and stop them together.

One `threading.Event` stops everything: a signal sets it, and so does the first worker that fails. Workers check
it between batches, finish the batch in hand, commit and close. The first failure is kept for the CLI to report,
so no thread dies quietly.
"""

from __future__ import annotations

import errno
import functools
import logging
import queue
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from prometheus_client import start_http_server

from zig_cli import access, codecs, kafka, membership
from zig_cli.checks import env_name
from zig_cli.config import Config, Route
from zig_cli.deadset import endpoints as deadset_endpoints
from zig_cli.errors import ZigError
from zig_cli.handlers import Handler, is_async
from zig_cli.lifecycle import Lifecycle
from zig_cli.metrics import Metrics, RouteMetrics
from zig_cli.producer import ProducerLike, Producers, activate
from zig_cli.server import OpsServer, Response, text
from zig_cli.stats import RouteStats
from zig_cli.worker import ConsumerFactory, RouteRuntime, Worker
from zig_cli.worker.alone import decide_split, decide_split_async
from zig_cli.worker.calls import AsyncCalls, Calls, DoneQueue, InlineCalls, ThreadCalls
from zig_cli.worker.deciding import (
    Decide,
    DecideAsync,
    decide_batch,
    decide_batch_async,
    decide_each,
    decide_each_async,
)
from zig_cli.worker.dispatch import Dispatch, buffer_limit
from zig_cli.worker.gate import Gate, OpenGate, RetryGate
from zig_cli.worker.keeper import Keeper
from zig_cli.worker.lanes import Item, Lanes, splitter
from zig_cli.worker.loop import Source
from zig_cli.worker.pipeline import Decided, Pipeline
from zig_cli.worker.watchdog import Watchdog
from zig_cli.ziggurat_metrics import ZigguratNames

logger = logging.getLogger(__name__)

# librdkafka reports every message within message.timeout.ms (5 minutes by default); wait a little longer than that.
DELIVERY_DEADLINE_S = 330.0
# A stream route's handler sees one message at a time, but its consumer fetches many per call to stay fast.
STREAM_FETCH = 500
STREAM_POLL_S = 1.0


@dataclass(frozen=True)
class Clients:
    """How the runner makes Kafka clients; tests swap in fakes."""

    consumer: Callable[[Mapping[str, str], dict[str, Callable[..., None]]], Any] = kafka.new_consumer
    producer: Callable[[Mapping[str, str]], Any] = kafka.new_producer
    prepare_topics: Callable[..., None] = kafka.prepare_topics


class Runner:
    def __init__(
        self,
        config: Config,
        handlers: Mapping[str, Handler],
        route_names: Sequence[str] = (),
        clients: Clients | None = None,
        graceful_timeout_s: float = 30.0,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        unknown = [name for name in route_names if name not in {r.name for r in config.routes}]
        if unknown:
            known = ", ".join(repr(r.name) for r in config.routes)
            raise ZigError(f"no route named {', '.join(map(repr, unknown))}; routes in {config.file}: {known}")
        self.config = config
        self.handlers = handlers
        self.routes = [r for r in config.routes if not route_names or r.name in route_names]
        self.clients = clients or Clients()
        self.graceful_timeout_s = graceful_timeout_s
        self.lifecycle = lifecycle or Lifecycle()
        self.stop = threading.Event()
        self.stats: dict[str, RouteStats] = {}
        self.workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        self._producers: list[ProducerLike] = []
        self.metrics = Metrics()
        self.producers = Producers(config, metrics=self.metrics)  # the :producer blocks, for zig_cli.send
        self._servers: list[Any] = []
        self._failure_lock = threading.Lock()
        self.failure: BaseException | None = None

    def start(self) -> None:
        """Call start-fn, prepare topics, serve metrics and health, start every worker; raises ZigError on refusal."""
        activate(self.producers)  # a start-fn may send through zig_cli.send
        self.lifecycle.start()
        self._serve()
        for route in self.routes:
            self._start_route(route)

    def _serve(self) -> None:
        config = self.config
        if config.setting("prometheus.enabled"):
            if config.setting("prometheus.ziggurat-names"):
                ZigguratNames.register(self.metrics, config, self.routes)
            host, port = config.setting("prometheus.host"), config.setting("prometheus.port")
            try:
                server, _ = start_http_server(port, addr=host, registry=self.metrics.registry)
            except OSError as error:
                raise ZigError(cannot_serve("metrics", "prometheus", host, port, error)) from None
            self._servers.append(server)
            logger.info("metrics at http://%s:%d/metrics", host, server.server_address[1])
        if config.setting("http-server.enabled"):
            endpoints = {
                ("GET", "/ping"): lambda request: text(200, "pong"),
                ("GET", "/health"): self._health,
                **deadset_endpoints(self.config),
            }
            host, port = config.setting("http-server.host"), config.setting("http-server.port")
            try:
                ops = OpsServer(port, endpoints, host)
            except OSError as error:
                raise ZigError(cannot_serve("HTTP", "http-server", host, port, error)) from None
            ops.start()
            self._servers.append(ops)
            guarded = "" if "http-server.auth-token" in config.operations else "; off until :auth-token is set"
            logger.info("HTTP endpoints at http://%s:%d (/ping, /health, /v1/dead_set%s)", host, ops.port, guarded)

    def health(self) -> list[str]:
        """What keeps zig from being healthy: workers that are not running, or hold no assignment of their group (not
        joined yet, revoked, or lost in a session timeout, until they are assigned again)."""
        problems = []
        for worker, thread in zip(self.workers, self._threads, strict=True):
            kind = worker.kind
            unready = worker.assignment.unready
            if not thread.is_alive():
                problems.append(f"route {worker.runtime.name!r}: a {kind} has stopped")
            elif unready is not None:
                problems.append(f"route {worker.runtime.name!r}: a {kind} {unready}")
            elif worker.overdue is not None:
                problems.append(f"route {worker.runtime.name!r}: a {kind} {worker.overdue}")
        if not self.workers:
            problems.append("no workers started yet")
        return problems

    def _health(self, query: Any) -> Response:
        problems = self.health()
        if problems:
            return text(503, "not ready: " + "; ".join(problems) + "\n")
        return text(200, "ok\n")

    def _start_route(self, route: Route) -> None:
        consumer_props = kafka.consumer_properties(self.config, route)
        retry = route.retry
        needed = [route["dead-letter-topic"]] + ([route["retry-topic"]] if retry.enabled else [])
        self.clients.prepare_topics(
            kafka.admin_properties(self.config, route),
            route["origin-topic"],
            needed,
            route.api_timeout_ms / 1000,
            consumer_props.get("allow.auto.create.topics") == "true",
            route.name,
            self.stop,  # a stop signal ends the wait for brokers that do not answer
            _needs(route, consumer_props),
        )
        stream = route.kind == "stream"
        forwarding = kafka.forwarding_producer_properties(self.config, route)
        producer = self.clients.producer(forwarding)
        self._producers.append(producer)
        stats = self.stats[route.name] = RouteStats()
        runtime = RouteRuntime(
            name=route.name,
            handler=self.handlers[route.name],
            subscription=kafka.subscription(route["origin-topic"]),
            plain_topic=kafka.is_plain_topic(route["origin-topic"]),
            max_records=route["max-poll-records"] if not stream else STREAM_FETCH,
            poll_timeout_s=route["poll-timeout-ms-config"] / 1000 if not stream else STREAM_POLL_S,
            key_decoder=codecs.decoder(route["key-deserializer-class-config"]),
            value_decoder=codecs.decoder(route["value-deserializer-class-config"]),
            retry=retry,
            retry_topic=route["retry-topic"],
            dead_letter_topic=route["dead-letter-topic"],
            producer=producer,
            stats=stats,
            delivery_deadline_s=DELIVERY_DEADLINE_S,
            stream=stream,
            oldest_ms=route["oldest-processed-message-in-s"] * 1000 if stream else None,
            metrics=self.metrics.route(route.name, self.config.app_name),
            max_message_bytes=int(forwarding.get("message.max.bytes", kafka.DEFAULT_MESSAGE_MAX_BYTES)),
            concurrency=route["concurrency"],
            ordering=route["ordering"],
            handler_timeout_s=route["handler-timeout-ms"] / 1000,
            graceful_timeout_s=self.graceful_timeout_s,
            group=route.group_id,
            split_on_error=not stream and route["on-handler-error"] == "split",
        )
        # Each consumer its own config: a static member's group-instance-id names its thread.
        plans = [(kafka.consumer_properties(self.config, route, index), False) for index in range(route.threads)]
        if retry.enabled:
            retry_member = kafka.consumer_properties(self.config, route, membership.RETRY_THREAD)
            plans.append((kafka.retry_consumer_properties(retry_member), True))
        for index, (props, retrying) in enumerate(plans):
            if index == 0 or retrying:
                _joining(route.name, props, "its retry consumer" if retrying else f"{route.threads} consumer(s)")
            name = f"zig-{route.name}-{'retry' if retrying else index}"
            worker = build_worker(runtime, self._factory(props), self.stop, retrying=retrying, name=name)
            thread = threading.Thread(target=self._run_worker, args=(worker,), name=name, daemon=True)
            self.workers.append(worker)
            self._threads.append(thread)
            thread.start()
        if runtime.metrics is not None:
            watch_gauges(runtime.metrics, [w for w in self.workers if w.runtime is runtime])

    def _factory(self, props: Mapping[str, str]) -> ConsumerFactory:
        return lambda callbacks: self.clients.consumer(props, callbacks)

    def _run_worker(self, worker: Worker) -> None:
        try:
            worker.run()
        except BaseException as error:  # kept for the CLI, which reports it and exits non-zero
            with self._failure_lock:
                if self.failure is None:
                    self.failure = error
            logger.error(
                "route=%s worker stopped: %s",
                worker.runtime.name,
                error,
                exc_info=not isinstance(error, ZigError),
                extra={"route": worker.runtime.name},
            )
            self.stop.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every worker to end; True when they all have."""
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                return False
        return True

    def close(self, timeout: float) -> None:
        """Flush the handlers' producers, then the retry and dead-letter ones (already acknowledged batch by batch)."""
        undelivered = self.producers.close(timeout)
        if undelivered:
            logger.error("%d message(s) sent by handlers were not delivered within %g s", undelivered, timeout)
        activate(None)
        for producer in self._producers:
            producer.flush(timeout)
        for server in self._servers:
            if isinstance(server, OpsServer):
                server.stop()
            else:
                server.shutdown()


def watch_gauges(metrics: RouteMetrics, workers: list[Worker]) -> None:
    """The route gauges read from its workers: messages in a handler, buffered, and the oldest one's age."""
    runs = [worker.dispatch for worker in workers]
    metrics.watch(
        in_handler=lambda: sum(dispatch.in_handler() for dispatch in runs),
        buffered=lambda: sum(dispatch.buffered for dispatch in runs),
        oldest=lambda: max(dispatch.oldest_age(time.monotonic()) for dispatch in runs),
    )


def _joining(route: str, props: Mapping[str, str], consumers: str) -> None:
    """Say which group a route's consumers join, and the session timeout that bounds a wait for a member gone."""
    timeout = props.get("session.timeout.ms")
    session = f"session timeout {timeout} ms" if timeout else "the broker sets the session timeout"
    logger.info(
        "route=%s joining group %s with %s (%s)", route, props["group.id"], consumers, session, extra={"route": route}
    )


def cannot_serve(what: str, section: str, host: str, port: int, error: OSError) -> str:
    """Why an endpoint did not start, and the setting (and its variable) that moves it elsewhere."""
    port_setting = f":{section} {{:port N}} (or {env_name(section, 'port')}=N; 0 picks a free port)"
    if error.errno in (errno.EADDRINUSE, errno.EACCES):
        fix = f"another process has the port, or it is reserved: set {port_setting}"
    else:
        fix = f"check :{section} {{:host ...}} (or {env_name(section, 'host')}), or set {port_setting}"
    return f"cannot serve {what} on {host}:{port}: {error}; {fix}"


def _needs(route: Route, consumer_props: Mapping[str, str]) -> list[access.Need]:
    """What the route's principal must be allowed, checked at start-up before anything is consumed."""
    retrying = route.retry.enabled
    return access.route_needs(
        route["origin-topic"] if kafka.is_plain_topic(route["origin-topic"]) else None,
        route["dead-letter-topic"],
        route["retry-topic"] if retrying else None,
        consumer_props["group.id"],
        kafka.retry_consumer_properties(consumer_props)["group.id"] if retrying else None,
    )


def build_worker(
    runtime: RouteRuntime, new_consumer: ConsumerFactory, stop: threading.Event, retrying: bool, name: str = "zig"
) -> Worker:
    """A worker of the route, its parts chosen here once: the decider of its kind of route (the whole batch, or one
    message at a time) and of its handler, where calls run (an async handler on an event loop; a sync one on the
    loop's own thread at concurrency 1, with a keeper, else on a pool of threads), how it cuts what it consumes into
    items, and a retry gate only for the worker of the retry topic."""
    if retrying:
        source = Source(runtime.retry_topic, "retry worker", missing_topic_is_fatal=False, observe_delay=False)
        gate: Gate = RetryGate(runtime.name, runtime.retry.max_held_bytes, runtime.clock)
    else:
        source = Source(runtime.subscription, "worker", runtime.plain_topic, observe_delay=True)
        gate = OpenGate()
    metrics = runtime.metrics
    pipeline = Pipeline(runtime)
    lanes = Lanes()
    done: DoneQueue = queue.SimpleQueue()
    oldest = None if retrying else runtime.oldest_ms  # a retried message was young enough once
    limit = buffer_limit(runtime.max_records, runtime.concurrency)
    watchdog = Watchdog(runtime.name, runtime.handler_timeout_s, lanes, metrics) if runtime.handler_timeout_s else None
    keeper: Keeper | None = None
    calls: Calls
    if is_async(runtime.handler):
        batch_async: Any = (
            functools.partial(decide_split_async, stop=stop) if runtime.split_on_error else decide_batch_async
        )
        decide_async: DecideAsync = _decider(runtime, stop, oldest, decide_each_async, batch_async)

        def call_async(item: Item) -> Awaitable[Decided]:
            return pipeline.decide_async(item.raws, item.origins, decide_async)

        calls = AsyncCalls(name, runtime.concurrency, lanes, call_async, done)
    else:
        batch_sync: Any = functools.partial(decide_split, stop=stop) if runtime.split_on_error else decide_batch

        def new_call() -> Callable[[Item], Decided]:
            decide: Decide = _decider(runtime, stop, oldest, decide_each, batch_sync)  # per thread: its own timer
            return lambda item: pipeline.decide(item.raws, item.origins, decide)

        if runtime.concurrency == 1:
            keeper = Keeper(runtime.name, name, limit, gate.paused, _watching(watchdog))
            calls = InlineCalls(lanes, new_call(), done, keeper)
        else:
            calls = ThreadCalls(name, runtime.concurrency, lanes, new_call, done)
    split = splitter(runtime.ordering, runtime.concurrency, runtime.stream, kafka.is_plain_topic(source.topic))
    dispatch = Dispatch(split, lanes, calls, done, limit, one_at_a_time=runtime.stream)
    return Worker(runtime, source, gate, pipeline, dispatch, new_consumer, stop, watchdog, keeper)


def _watching(watchdog: Watchdog | None) -> Callable[[], None]:
    """The handler-timeout check for the keeper to make while the loop thread is in a long call."""
    return (lambda: watchdog.check(time.monotonic())) if watchdog is not None else (lambda: None)


def _decider(
    runtime: RouteRuntime,
    stop: threading.Event,
    oldest: int | None,
    each: Callable[..., Any],
    batch: Callable[..., Any],
) -> Any:
    """The route's decider, `each` (one message at a time) or `batch`, bound to the route. Each call makes a new
    timer of the handler's time (a stream handler's per message, a batch handler's per call): one per thread that
    calls the handler, as the timers take no lock."""
    metrics = runtime.metrics
    if runtime.stream:
        return functools.partial(
            each,
            route=runtime.name,
            handler=runtime.handler,
            stop=stop,
            oldest_ms=oldest,
            clock=runtime.clock,
            times=metrics.handler_times() if metrics is not None else None,
        )
    observe = metrics.batch_handler_times().observe if metrics is not None else None
    return functools.partial(batch, route=runtime.name, handler=runtime.handler, observe_time=observe)


def handle_signals(stop: threading.Event, abort: Callable[[], None]) -> None:
    """SIGINT/SIGTERM: the first stops gracefully, the second calls `abort` at once."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            abort()
            return
        logger.warning(
            "%s: finishing the batches in hand, then stopping (again to exit at once)", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
