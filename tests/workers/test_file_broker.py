"""The embedded broker: tasks sent by one process arrive whole in another."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from celery import Celery
from kombu.simple import Empty

from services.core import file_broker
from services.core.queue import DETECT_QUEUE, make_celery
from services.core.settings import Settings


def test_messages_arrive_whole_and_leave_no_partial_files(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    app = make_celery(settings)
    big = "x" * 500_000  # large enough that a half-written file would be caught half written
    with app.connection_for_write() as conn:
        assert type(conn.transport).__module__ == "services.core.file_broker"
        for i in range(20):
            app.send_task("facetag.detect_image", args=[f"{i}-{big}"], queue=DETECT_QUEUE, connection=conn)
    folder = settings.broker_dir / "messages"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(DETECT_QUEUE)
        received = []
        for _ in range(20):
            message = queue.get(timeout=5)
            received.append(message.payload)
            message.ack()
        queue.close()
    # Celery's message body: (args, kwargs, embed)
    assert sorted(int(body[0][0].split("-")[0]) for body in received) == list(range(20))
    assert all(body[0][0].endswith(big) for body in received)


def _send(app: Celery, count: int) -> None:
    with app.connection_for_write() as conn:
        for i in range(count):
            app.send_task("facetag.detect_image", args=[str(i)], queue=DETECT_QUEUE, connection=conn)


def test_a_message_whose_taker_died_comes_back_and_an_acknowledged_one_never(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_broker, "SWEEP_SECONDS", 0.0)
    app = make_celery(Settings(data_dir=tmp_path, visibility_timeout=1))
    _send(app, 2)
    # A worker takes both, acknowledges one and dies holding the other (its connection is never closed
    # cleanly, as after kill -9: nothing puts the message back but the lease running out).
    dead = app.connection_for_read()
    queue = dead.SimpleQueue(DETECT_QUEUE)
    first, second = queue.get(timeout=5), queue.get(timeout=5)
    first.ack()
    channel = queue.channel
    channel._closing.set()  # its renewals stop with it
    channel._leased.clear()
    with app.connection_for_read() as conn:
        other = conn.SimpleQueue(DETECT_QUEUE)
        started = time.monotonic()
        again = other.get(timeout=10)
        assert again.payload == second.payload and time.monotonic() - started < 5
        again.ack()
        with pytest.raises(Empty):  # the acknowledged one stays gone
            other.get(timeout=3)
        other.close()


def test_a_message_held_by_a_live_worker_is_not_handed_out_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_broker, "SWEEP_SECONDS", 0.0)
    app = make_celery(Settings(data_dir=tmp_path, visibility_timeout=1))
    _send(app, 1)
    with app.connection_for_read() as holder, app.connection_for_read() as other:
        held = holder.SimpleQueue(DETECT_QUEUE).get(timeout=5)  # a long task: held for 3 lease times
        with pytest.raises(Empty):
            other.SimpleQueue(DETECT_QUEUE).get(timeout=3)
        held.ack()


def test_a_message_its_sender_died_writing_is_cleared_away(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_broker, "SWEEP_SECONDS", 0.0)
    settings = Settings(data_dir=tmp_path, visibility_timeout=1)
    app = make_celery(settings)
    folder = settings.broker_dir / "messages"
    partial = folder / ".123_abc.detect.msg.part"
    partial.write_bytes(b'{"half a mess')
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(DETECT_QUEUE)
        with pytest.raises(Empty):
            queue.get(timeout=0.5)
        assert partial.exists()  # it may still be being written
        time.sleep(1.2)
        with pytest.raises(Empty):
            queue.get(timeout=0.5)
        queue.close()
    assert not partial.exists()


def test_an_idle_consumer_is_woken_by_a_new_message_not_by_its_next_look(tmp_path: Path) -> None:
    """The sender rings the waiting consumer: it takes the message at once, though its next look at the folder
    would be a minute away (the fallback poll); without the doorbell, the get would wait out its 30 s."""
    settings = Settings(data_dir=tmp_path)
    consumer_app = make_celery(settings)
    consumer_app.conf.broker_transport_options = {**consumer_app.conf.broker_transport_options,
                                                  "polling_interval": 60.0}
    sender = threading.Thread(target=lambda: (time.sleep(1.0), _send(make_celery(settings), 1)))
    with consumer_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(DETECT_QUEUE)
        sender.start()
        asked = time.monotonic()
        message = queue.get(timeout=30)
        waited = time.monotonic() - asked
        message.ack()
        queue.close()
    sender.join()
    assert message.payload[0] == ["0"]
    assert waited < 15, f"the consumer took the message after {waited:.1f} s: the doorbell did not wake it"
