"""The cluster broker on a real Redis: a message held by a worker that died comes back within seconds,
one held by a live worker, however long, is never handed out twice, and none is dropped when Redis
dies at the wrong moment."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery, Task
from celery.exceptions import Reject
from kombu.message import Message
from kombu.simple import Empty, SimpleQueue
from servers import RunningServer, free_port

from services.core.queue import DETECT_QUEUE, make_celery, waiting_tasks
from services.core.settings import Settings
from services.core.worker_runtime import retry_later

pytestmark = pytest.mark.servers
LEASE = 1  # seconds; a live holder renews every fifth of it


@pytest.fixture
def app(redis_url: str, tmp_path: object) -> Iterator[Celery]:
    url = redis_url.rsplit("/", 1)[0] + "/15"  # a database of its own, emptied first
    redis.Redis.from_url(url).flushdb()
    yield make_celery(Settings(data_dir=tmp_path, broker_url=url, visibility_timeout=LEASE))
    redis.Redis.from_url(url).flushdb()


def _send(app: Celery, count: int) -> None:
    with app.connection_for_write() as conn:
        for i in range(count):
            app.send_task("facetag.detect_image", args=[str(i)], queue=DETECT_QUEUE, connection=conn)


def _get_within(queue: SimpleQueue, seconds: float) -> Message:
    """The next message, polling once a second as a worker does (expired leases are swept between polls)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return queue.get(timeout=1)
        except Empty:
            if time.monotonic() > deadline:
                raise


def test_a_message_whose_taker_died_comes_back_within_seconds_and_an_acknowledged_one_never(app: Celery) -> None:
    _send(app, 2)
    dead = app.connection_for_read()
    assert type(dead.transport).__module__ == "services.core.redis_broker"
    queue = dead.SimpleQueue(DETECT_QUEUE)
    first = queue.get(timeout=5)
    first.ack()
    second = queue.get(timeout=5)
    # It dies holding the second: its renewals stop and its connection is never closed cleanly (kill -9),
    # so nothing puts the message back but the lease running out.
    queue.channel.qos.closing.set()
    with app.connection_for_read() as conn:
        other = conn.SimpleQueue(DETECT_QUEUE)
        started = time.monotonic()
        again = _get_within(other, 15)
        assert again.payload == second.payload
        assert time.monotonic() - started < 6
        again.ack()
        with pytest.raises(Empty):  # the acknowledged one stays gone
            other.get(timeout=3)
        other.close()
    dead.release()  # its message was taken back already: nothing is put back twice


def test_a_message_held_by_a_live_worker_is_not_handed_out_again(app: Celery) -> None:
    _send(app, 1)
    assert waiting_tasks(app, DETECT_QUEUE) == 1
    with app.connection_for_read() as holder, app.connection_for_read() as other:
        held = holder.SimpleQueue(DETECT_QUEUE).get(timeout=5)  # a long task: held for 4 lease times
        with pytest.raises(Empty):
            other.SimpleQueue(DETECT_QUEUE).get(timeout=4)
        held.ack()
        with pytest.raises(Empty):
            other.SimpleQueue(DETECT_QUEUE).get(timeout=3)


def test_an_empty_queue_has_nothing_waiting(app: Celery) -> None:
    # Redis keeps no empty list: before the first task and after the last, the queue does not exist there.
    assert waiting_tasks(app, DETECT_QUEUE) == 0
    _send(app, 1)
    with app.connection_for_read() as conn:
        conn.SimpleQueue(DETECT_QUEUE).get(timeout=5).ack()
    assert waiting_tasks(app, DETECT_QUEUE) == 0


def test_a_message_taken_as_redis_dies_is_leased_once_redis_is_back(crashable_redis: RunningServer,
                                                                     tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, broker_url=crashable_redis.url, visibility_timeout=LEASE))
    _send(app, 1)
    with app.connection_for_read() as taker:
        channel = taker.default_channel
        # What BRPOP does first: the message leaves its list. Redis dies before the lease is written.
        raw = redis.Redis.from_url(crashable_redis.url).rpop(DETECT_QUEUE)
        assert raw is not None
        message = channel.Message(json.loads(raw), channel=channel)
        crashable_redis.crash()
        # The lease is written from a thread: the server restarts from this one, which must outlive it.
        leased = threading.Thread(target=channel.qos.append, args=(message, message.delivery_tag))
        leased.start()
        time.sleep(1.5)
        crashable_redis.start_again()
        leased.join(10)
        assert not leased.is_alive(), "the lease was not written once Redis was back"
        channel.qos.closing.set()  # then the taker dies: the message must come back to someone else
    with app.connection_for_read() as conn:
        other = conn.SimpleQueue(DETECT_QUEUE)
        again = _get_within(other, 15)
        assert again.payload == message.payload
        again.ack()
        other.close()


def test_a_retry_the_broker_refuses_hands_the_message_back(tmp_path: Path) -> None:
    # The broker is down (nothing listens on its port), as when a photo's hand-off to the next stage failed.
    app = make_celery(Settings(data_dir=tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0"))

    @app.task(bind=True, name="facetag.test_retry")
    def flaky(self: Task) -> None:
        raise retry_later(self, ConnectionError("broker down"), 1.0)

    flaky.push_request(id="t1", retries=0, called_directly=False, delivery_info={})
    try:
        with pytest.raises(Reject) as refused:
            flaky.run()
    finally:
        flaky.pop_request()
    # Celery's own answer would be requeue=False: the message acknowledged, the photo stranded.
    assert refused.value.requeue is True
