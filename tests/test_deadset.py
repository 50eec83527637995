"""The dead set on Kafka: view, replay and delete through the CLI, the Python API and the HTTP API."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from helpers import wait_until
from kafka_helpers import RECORDER, Zig, committed, create_topic, read_topic, unique, write_route_config

from zig_cli import config as config_module
from zig_cli import embedded, envelope, loader
from zig_cli.config import Config
from zig_cli.deadset import DeadSet, DeadSetError, commit_forward, endpoints
from zig_cli.deadset_filter import EVERY, DeadLetterFilter
from zig_cli.server import OpsServer

pytestmark = pytest.mark.kafka


def dead_letters(bootstrap: str, topic: str, origin_topic: str, count: int) -> None:
    """Write `count` dead letters as zig writes them (key k<i>, value v<i>, retried twice, error boom <i>), of
    messages that came with headers of their own, one named like zig's."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        own = (("trace", b"t"), ("zig-error", b"forged"))
        origin = envelope.Origin(origin_topic, 0, 100 + i, 1_700_000_000_000, 0, None, own)
        record = envelope.forward(topic, origin, f"k{i}".encode(), f"v{i}".encode(), "r", 2, f"boom {i}")
        producer.produce(record.topic, record.value, record.key, headers=record.headers)
    assert producer.flush(30) == 0


def setup(bootstrap: str, tmp_path: Path, letters: int = 6) -> tuple[Path, str]:
    app = unique("app")
    origin = create_topic(bootstrap, unique("orders"), 1)
    (tmp_path / "h.py").write_text(RECORDER + "def handle(batch):\n    record('r', batch)\n")
    config = write_route_config(
        tmp_path / "config.edn",
        bootstrap,
        {
            "r": {"handler-fn": "h/handle", "consumer-group-id": unique("r"), "origin-topic": origin},
            "idle": {"handler-fn": "h/handle", "consumer-group-id": unique("idle"), "origin-topic": origin},
        },
        app=app,
    )
    create_topic(bootstrap, f"{app}-r-dead-letter", 1)
    create_topic(bootstrap, f"{app}-r-retry", 1)
    dead_letters(bootstrap, f"{app}-r-dead-letter", origin, letters)
    return config, app


def zig(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zig_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300", "ZIG_TEST_RECORD": str(cwd / "r.jsonl")},
    )


def test_view_delete_and_replay_from_the_cli(bootstrap_servers: str, tmp_path: Path):
    config, app = setup(bootstrap_servers, tmp_path)
    for _ in range(2):  # viewing removes nothing
        viewed = zig("dead-set", "view", str(config), "r", "--count", "3", "--format", "json", cwd=tmp_path)
        assert viewed.returncode == 0, viewed.stderr
        messages = json.loads(viewed.stdout)["messages"]
        assert [(m["offset"], m["key"], m["value"], m["retry_count"], m["error"]) for m in messages] == [
            (i, f"k{i}", f"v{i}", 2, f"boom {i}") for i in range(3)
        ]
        assert messages[0]["origin"] == {"topic": messages[0]["origin"]["topic"], "partition": 0, "offset": 100}
    table = zig("dead-set", "view", str(config), "r", "--count", "2", cwd=tmp_path)
    assert table.returncode == 0 and "boom 1" in table.stdout and "2 dead letter(s) shown" in table.stdout

    deleted = zig("dead-set", "delete", str(config), "r", "--count", "2", "--yes", cwd=tmp_path)
    assert deleted.stdout.strip() == "deleted 2 dead letter(s) of route 'r'"
    replayed = zig("dead-set", "replay", str(config), "r", "--count", "1", cwd=tmp_path)
    assert replayed.stdout.strip() == "replayed 1 dead letter(s) of route 'r'"
    left = json.loads(zig("dead-set", "view", str(config), "r", "-n", "10", "--format", "json", cwd=tmp_path).stdout)
    assert [m["key"] for m in left["messages"]] == ["k3", "k4", "k5"]
    [again] = read_topic(bootstrap_servers, f"{app}-r-retry", 1)
    headers = dict(again.headers())
    assert (again.key(), again.value(), headers["trace"]) == (b"k2", b"v2", b"t")
    assert (headers["zig-retry-count"], headers["zig-due-ms"], headers["zig-origin-offset"]) == (b"0", b"0", b"102")

    bad = zig("dead-set", "view", str(config), "r", "--count", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "count must be an integer from 1 to 2147483647, got 0" in bad.stderr
    unknown = zig("dead-set", "view", str(config), "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "no route named 'nope'; routes: 'r', 'idle'" in unknown.stderr


def test_filters_move_only_the_letters_chosen_and_keep_every_other(bootstrap_servers: str, tmp_path: Path):
    config, app = setup(bootstrap_servers, tmp_path)  # k0 to k5 at offsets 0 to 5, errors "boom 0" to "boom 5"
    dead_set = DeadSet(load(config), "r")

    def view(only: DeadLetterFilter = EVERY) -> list[tuple[bytes | None, str, int, int]]:
        return [(m.key, m.error, m.origin.offset, m.offset) for m in dead_set.view(10, only)]

    assert view(DeadLetterFilter(error="boom 3")) == [(b"k3", "boom 3", 103, 3)]
    table = zig("dead-set", "view", str(config), "r", "--key", "k2", "--partition", "0", cwd=tmp_path)
    assert "│ 0         │ 2      │ 'k2' │ v2    │ 2           │ boom 2 │" in table.stdout, table.stdout
    dry = zig("dead-set", "delete", str(config), "r", "--error", "boom 4", "--dry-run", cwd=tmp_path)
    assert dry.stdout.splitlines()[-1] == (
        "dry run: would delete 1 dead letter(s) (error containing 'boom 4'); 4 passed over would be written back "
        "to the end of the dead set; nothing moved"
    )
    unasked = zig("dead-set", "delete", str(config), "r", "--error", "boom 4", cwd=tmp_path)
    assert unasked.returncode == 2 and "deleting for good needs --yes when zig cannot ask" in unasked.stderr
    deleted = zig("dead-set", "delete", str(config), "r", "--error", "boom 4", "--yes", cwd=tmp_path)
    assert deleted.stdout.strip() == "deleted 1 dead letter(s) of route 'r'", deleted.stderr
    # The four passed over are written back, as they were, after k5, which stays where it was.
    placed = ((5, 5), (0, 6), (1, 7), (2, 8), (3, 9))
    assert view() == [(f"k{i}".encode(), f"boom {i}", 100 + i, at) for i, at in placed]

    assert dead_set.replay(5, only=DeadLetterFilter(key="k0", partition=0)) == 1
    # k5 was passed over before k0, so written back; k1 to k3 came after the last one replayed and stayed.
    assert [(key, at) for key, _, _, at in view()] == [(b"k1", 7), (b"k2", 8), (b"k3", 9), (b"k5", 10)]
    [replayed] = read_topic(bootstrap_servers, f"{app}-r-retry", 1)
    assert (replayed.key(), dict(replayed.headers())["zig-origin-offset"]) == (b"k0", b"100")
    with pytest.raises(DeadSetError, match=r"has partitions 0 to 0, not 3"):
        dead_set.view(1, DeadLetterFilter(partition=3))


def test_letters_passed_over_past_the_bound_are_written_back_without_waiting_for_a_match(
    bootstrap_servers: str, tmp_path: Path
):
    config, _ = setup(bootstrap_servers, tmp_path)  # k0 to k5 at offsets 0 to 5, 4 bytes of key and value each
    dead_set = DeadSet(load(config), "r")
    dead_set.held_bytes = 8  # two letters
    nothing = DeadLetterFilter(key="nope")

    def placed() -> list[tuple[bytes | None, int]]:
        return [(m.key, m.offset) for m in dead_set.view(10)]

    assert dead_set.scan(10, nothing).passed_over == 6, "what a replay or delete would write back"
    assert dead_set.replay(10, only=nothing) == 0
    assert placed() == [(f"k{i}".encode(), 6 + i) for i in range(6)], "each written back once, in order"
    assert dead_set.delete(1, DeadLetterFilter(key="k4")) == 1  # k0 to k3 written back in twos, k5 is not read
    assert placed() == [(b"k5", 11), *((f"k{i}".encode(), 12 + i) for i in range(4))]


def test_an_interrupted_replay_repeats_at_most_the_message_in_hand(bootstrap_servers: str, tmp_path: Path):
    config_path, app = setup(bootstrap_servers, tmp_path)
    config = config_module.validate(loader.load(config_path), str(config_path), {})
    dead_set = DeadSet(config, "r")

    def interrupt(letter: object) -> None:
        if getattr(letter, "offset", None) == 1:
            raise KeyboardInterrupt  # as if the process stopped between the write and the commit

    with pytest.raises(KeyboardInterrupt):
        dead_set.replay(4, after_write=interrupt)
    assert [letter.offset for letter in dead_set.view(10)] == [1, 2, 3, 4, 5]
    assert dead_set.replay(10) == 5
    assert dead_set.view(10) == []
    replayed = read_topic(bootstrap_servers, f"{app}-r-retry", 7)
    keys = sorted(m.key() for m in replayed)
    assert keys == [b"k0", b"k1", b"k1", b"k2", b"k3", b"k4", b"k5"], "only the message in hand came twice"


TOKEN = "dead-set-t0ken"


def test_the_http_api_answers_like_ziggurat_to_the_token_holder(bootstrap_servers: str, tmp_path: Path):
    config, app = setup(bootstrap_servers, tmp_path)
    zig_run = Zig(config, tmp_path / "record.jsonl", "--route", "r", env={"ZIGGURAT_HTTP_SERVER_AUTH_TOKEN": TOKEN})
    zig_run.wait_for_log("HTTP endpoints at ")
    port = int(zig_run.output().split("HTTP endpoints at http://0.0.0.0:")[1].split(" ")[0])
    base = f"http://127.0.0.1:{port}/v1/dead_set"

    def call(method: str, url: str, body: dict | str | None = None, token: str = TOKEN) -> tuple[int, dict]:
        """A call as Ziggurat's docs make it: a JSON body (a dict here), or a form as `curl -d` sends it."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if body else None
        kind = "application/json" if isinstance(body, dict) else "application/x-www-form-urlencoded"
        headers = {"Content-Type": kind, "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert call("DELETE", f"{base}?topic-entity=r&count=3", token="guess")[0] == 401
    status, body = call("GET", f"{base}?topic-entity=r&count=2")
    assert status == 200 and [m["key"] for m in body["messages"]] == ["k0", "k1"], "the refused delete removed nothing"
    # Ziggurat's fields beside zig's: its message payload's message, topic-entity and retry-count.
    first = body["messages"][0]
    # message: the value's bytes in base64 (b"v0"); retry-count: Ziggurat's retries left, 3 of 5 after 2
    assert (first["message"], first["topic-entity"], first["retry-count"]) == ("djA=", "r", 3)
    assert (first["value"], first["retry_count"]) == ("v0", 2)
    deleted = "Deleted 1 message(s) from the dead set of route 'r'"
    assert call("DELETE", base, "count=1&topic_entity=r") == (200, {"deleted": 1, "message": deleted})
    replayed = f"Replayed 2 message(s) to '{app}-r-retry'; they will be handled again shortly"
    assert call("POST", f"{base}/replay", {"count": "2", "topic_entity": "r"}) == (
        200,
        {"replayed": 2, "message": replayed},
    )
    wait_until(lambda: zig_run.count() >= 2, 60, "the replayed messages to be handled again")
    assert sorted(r["key"] for r in zig_run.records()) == ["k1", "k2"]
    status, body = call("GET", f"{base}?topic-entity=r&count=10")
    assert [m["key"] for m in body["messages"]] == ["k3", "k4", "k5"]
    assert call("GET", f"{base}?topic-entity=r&count=zero") == (
        400,
        {"error": "count must be an integer from 0 to 2147483647, got 'zero'"},
    )
    assert call("GET", f"{base}?topic-entity=nope&count=1")[0] == 400
    status, body = call("GET", f"{base}?topic-entity=idle&count=1")
    assert status == 404 and body["error"].startswith("route 'idle' has no dead letters")
    assert zig_run.stop() == 0
    log = zig_run.output()
    assert "DELETE /v1/dead_set from 127.0.0.1:" in log and "refused: a wrong bearer token" in log
    assert "route=r dead set: DELETE /v1/dead_set from 127.0.0.1:" in log and "asked 1, deleted 1" in log
    assert "route=r dead set: POST /v1/dead_set/replay from 127.0.0.1:" in log and "asked 2, replayed 2" in log
    assert TOKEN not in log and "guess" not in log


def end_offset(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("watermarks")})
    try:
        return int(consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)[1])
    finally:
        consumer.close()


def load(path: Path) -> Config:
    return config_module.validate(loader.load(path), str(path), {})


def test_concurrent_http_replays_move_each_dead_letter_once(bootstrap_servers: str, tmp_path: Path):
    config, app = setup(bootstrap_servers, tmp_path, letters=40)
    group = DeadSet(load(config), "r").group
    zig_run = Zig(config, tmp_path / "record.jsonl", "--route", "r", env={"ZIGGURAT_HTTP_SERVER_AUTH_TOKEN": TOKEN})
    zig_run.wait_for_log("HTTP endpoints at ")
    port = int(zig_run.output().split("HTTP endpoints at http://0.0.0.0:")[1].split(" ")[0])

    def replay(_: int) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{port}/v1/dead_set/replay?topic-entity=r&count=10"
        request = urllib.request.Request(url, method="POST", headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    with ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(replay, range(4)), key=lambda answer: answer[0])
    assert (answers[0][0], answers[0][1]["replayed"]) == (200, 10), answers
    assert [status for status, _ in answers[1:]] == [409, 409, 409], answers
    assert all("a replay or delete of route 'r' is running" in body["error"] for _, body in answers[1:])
    assert end_offset(bootstrap_servers, f"{app}-r-retry") == 10, "the retry topic grew by what was replayed"
    assert committed(bootstrap_servers, group, f"{app}-r-dead-letter", 1) == {0: 10}
    assert zig_run.stop() == 0


def test_a_replay_in_another_process_is_refused_while_one_holds_the_dead_set(bootstrap_servers: str, tmp_path: Path):
    config_path, app = setup(bootstrap_servers, tmp_path)
    dead_set = DeadSet(load(config_path), "r")
    other: list[subprocess.CompletedProcess[str]] = []

    def meanwhile(letter: object) -> None:
        if not other:  # while this replay holds the dead set, the CLI tries one of its own
            other.append(zig("dead-set", "replay", str(config_path), "r", "--count", "3", cwd=tmp_path))

    assert dead_set.replay(3, after_write=meanwhile) == 3
    [refused] = other
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"another replay or delete of route 'r' holds its dead set (group '{dead_set.group}'); try again when it has "
        "ended"
    ]
    assert end_offset(bootstrap_servers, f"{app}-r-retry") == 3
    assert committed(bootstrap_servers, dead_set.group, f"{app}-r-dead-letter", 1) == {0: 3}


class CommittedAt:
    """A consumer whose group has committed `offset`; records what is committed through it."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.commits: list[int] = []

    def committed(self, partitions: list[TopicPartition], timeout: float = 0) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.offset) for tp in partitions]

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.commits += [tp.offset for tp in offsets]
        return offsets


def test_a_commit_never_moves_the_dead_set_back():
    ahead = CommittedAt(7)
    with pytest.raises(DeadSetError) as refused:
        commit_forward(ahead, "d", 0, 3, 4)
    assert (refused.value.status, ahead.commits) == (409, [])
    assert str(refused.value) == (
        "another replay or delete moved d[0] to offset 7 while this one was at 3; stopped without moving it back"
    )
    for start in (3, -1001):  # where this one started, or nothing committed yet
        level = CommittedAt(start)
        commit_forward(level, "d", 0, 3, 4)
        assert level.commits == [4]


def serve_dead_set(config_path: Path) -> OpsServer:
    server = OpsServer(0, endpoints(load(config_path)), "127.0.0.1")
    server.start()
    return server


def get_dead_set(server: OpsServer, method: str = "GET", path: str = "/v1/dead_set") -> tuple[int, dict, float]:
    """One authorized call for route r; returns its status, body and how long it took."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, f"{path}?topic-entity=r&count=3", headers={"Authorization": f"Bearer {TOKEN}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), time.monotonic() - started
    finally:
        connection.close()


def with_token(config_path: Path) -> Path:
    raw = loader.load(config_path)
    raw["http-server"] = {**raw.get("http-server", {}), "auth-token": TOKEN}
    config_path.write_text(loader.dumps(raw, "edn"), encoding="utf-8")
    return config_path


def test_the_dead_set_answers_503_at_once_when_no_broker_listens(tmp_path: Path):
    nowhere = f"127.0.0.1:{embedded.free_port()}"
    route = {"handler-fn": "h/handle", "consumer-group-id": "g", "origin-topic": "o"}
    config_path = with_token(write_route_config(tmp_path / "c.edn", nowhere, {"r": route}))
    server = serve_dead_set(config_path)
    try:
        for method, path in (("GET", "/v1/dead_set"), ("POST", "/v1/dead_set/replay"), ("DELETE", "/v1/dead_set")):
            status, body, took = get_dead_set(server, method, path)
            assert status == 503, body
            assert body["error"].startswith(f"cannot reach Kafka at {nowhere}: "), body
            assert "Connection refused" in body["error"] and took < 4, (body, took)
    finally:
        server.stop()


def test_the_dead_set_answers_503_with_the_reason_while_the_broker_is_stopped(
    private_broker: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
):
    address, broker = private_broker
    server = serve_dead_set(with_token(setup(address, tmp_path)[0]))
    try:
        assert get_dead_set(server)[0] == 200
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            status, body, took = get_dead_set(server)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        assert (status, body) == (503, {"error": f"Kafka at {address} did not answer within 5 s"})
        assert took < 9
        assert get_dead_set(server)[0] == 200
    finally:
        server.stop()
