"""The embedded broker (pixell/broker.py): messages visible only whole, bad files set aside with one
warning, and nothing but Empty ever leaves `_get` (kombu's own transport stops the worker on an empty
message file, kombu issue 1551)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport.virtual import BrokerState

from pixell import broker

broker.register()


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    names = ("queue", "processing", "rejected", "control")
    paths = {name: tmp_path / "broker" / name for name in names}
    for path in paths.values():
        path.mkdir(parents=True)
    return paths


@pytest.fixture
def connection(folders, monkeypatch):
    # kombu keeps declared bindings in one state per process (one control folder in real life);
    # each test has its own folders, so its own state.
    monkeypatch.setattr(broker.Transport, "global_state", BrokerState())
    with Connection(
        "pixell-fs://",
        transport_options={
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processing"]),
            "rejected_folder": str(folders["rejected"]),
            "control_folder": str(folders["control"]),
            "polling_interval": 0.01,
        },
    ) as conn:
        yield conn


def _queue(conn, name="jobs"):
    return conn.SimpleQueue(Queue(name, Exchange(name, type="direct"), routing_key=name))


def _broker_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "pixell.broker" and r.levelno == logging.WARNING
    ]


def test_the_default_url_selects_the_safe_transport(connection):
    assert isinstance(connection.transport, broker.Transport)
    assert isinstance(connection.default_channel, broker.Channel)


def test_messages_round_trip_in_order_and_leave_nothing_behind(connection, folders):
    queue = _queue(connection)
    for number in range(5):
        queue.put({"n": number})
    received = []
    for _ in range(5):
        message = queue.get(timeout=2)
        received.append(message.payload["n"])
        message.ack()
    assert received == [0, 1, 2, 3, 4]
    with pytest.raises(Empty):
        queue.get(timeout=0.1)
    assert not any(p for p in folders["queue"].iterdir() if p.name.endswith(".msg"))
    assert list(folders["processing"].iterdir()) == []


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"{", "not a message"),  # torn: the first byte of a message
        (b"\x00\xffgarbage", "not a message"),
        (b'{"hello": "world"}', "not a message"),  # JSON, but no properties/delivery_tag
        (b"[1, 2]", "not a message"),
    ],
)
def test_an_unusable_file_is_set_aside_once_and_the_queue_keeps_flowing(
    connection, folders, caplog, content, reason
):
    queue = _queue(connection)
    # Sorted first: the reader meets the bad file before the good message.
    (folders["queue"] / "00000000000000000000_bad.jobs.msg").write_bytes(content)
    queue.put({"after": "bad"})

    with caplog.at_level(logging.WARNING, logger="pixell.broker"):
        message = queue.get(timeout=2)
        message.ack()
        with pytest.raises(Empty):
            queue.get(timeout=0.2)

    assert message.payload == {"after": "bad"}
    assert (folders["rejected"] / "00000000000000000000_bad.jobs.msg").read_bytes() == content
    warnings = _broker_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "00000000000000000000_bad.jobs.msg" in warnings[0] and reason in warnings[0]


def test_files_of_other_queues_and_temporary_files_are_left_alone(connection, folders):
    queue = _queue(connection)
    other = folders["queue"] / "00000000000000000000_x.other.msg"
    temp = folders["queue"] / f"{broker.TEMP_PREFIX}half-written"
    other.write_bytes(b"")
    temp.write_bytes(b"{")
    with pytest.raises(Empty):
        queue.get(timeout=0.2)
    assert other.exists() and temp.exists()
    assert list(folders["rejected"].iterdir()) == []


def test_get_never_raises_anything_but_empty_and_warns_once_per_fault(
    connection, folders, caplog, monkeypatch
):
    channel = connection.default_channel

    def broken(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(broker.os, "listdir", broken)
    with caplog.at_level(logging.WARNING, logger="pixell.broker"):
        for _ in range(5):
            with pytest.raises(Empty):
                channel._get("jobs")
    assert len(_broker_warnings(caplog)) == 1

    monkeypatch.undo()
    folders["queue"].rmdir()  # removed under a running worker: recreated, polling goes on
    with pytest.raises(Empty):
        channel._get("jobs")
    assert folders["queue"].is_dir()


def test_a_message_is_invisible_until_written_whole(connection, folders, monkeypatch):
    """At the moment the bytes are on disk but not yet renamed into place, a reader finds nothing:
    kombu's own writer exposes the file before filling it."""
    channel = connection.default_channel
    seen_while_writing = []
    real_replace = os.replace

    def replace_after_probe(src, dst):
        if str(dst).endswith(".jobs.msg"):
            assert Path(src).read_bytes()  # the content is written by now...
            try:
                channel._get("jobs")  # ...and yet no reader can take it
                seen_while_writing.append("taken")
            except Empty:
                seen_while_writing.append("invisible")
        return real_replace(src, dst)

    monkeypatch.setattr(broker.os, "replace", replace_after_probe)
    channel._put("jobs", {"properties": {"delivery_tag": "t"}, "body": "x" * 100_000})
    monkeypatch.undo()

    assert seen_while_writing == ["invisible"]
    assert channel._get("jobs")["body"] == "x" * 100_000


def test_concurrent_writers_and_a_reader_never_meet_a_partial_message(connection, folders):
    channel = connection.default_channel
    per_writer, writers, body = 40, 4, "y" * 50_000
    received, errors = [], []

    def write(number):
        try:
            with Connection(
                connection.as_uri(), transport_options=connection.transport_options
            ) as c:
                for i in range(per_writer):
                    payload = {"properties": {"delivery_tag": f"{number}-{i}"}, "body": body}
                    c.default_channel._put("jobs", payload)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads) or len(received) < per_writer * writers:
        try:
            received.append(channel._get("jobs"))
        except Empty:
            if not any(t.is_alive() for t in threads) and len(received) < per_writer * writers:
                # the writers are done: whatever is left is in the folder now
                received.append(channel._get("jobs"))
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(received) == per_writer * writers
    assert all(message["body"] == body for message in received)
    assert len({m["properties"]["delivery_tag"] for m in received}) == per_writer * writers
    assert list(folders["rejected"].iterdir()) == []


def test_exchange_tables_are_rewritten_whole_and_survive_damage(connection, folders, caplog):
    channel = connection.default_channel
    channel._queue_bind("jobs", "a", None, "queue-a")
    channel._queue_bind("jobs", "b", None, "queue-b")
    channel._queue_bind("jobs", "a", None, "queue-a")  # idempotent
    assert {row.queue for row in channel.get_table("jobs")} == {"queue-a", "queue-b"}

    (folders["control"] / "jobs.exchange").write_bytes(b"")  # damaged by hand
    with caplog.at_level(logging.WARNING, logger="pixell.broker"):
        assert channel.get_table("jobs") == []
    assert "unreadable" in _broker_warnings(caplog)[0]
    channel._queue_bind("jobs", "a", None, "queue-a")  # the next bind rebuilds it
    assert [row.queue for row in channel.get_table("jobs")] == ["queue-a"]
    assert not [p for p in folders["control"].iterdir() if p.name.startswith(broker.TEMP_PREFIX)]
