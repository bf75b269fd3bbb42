"""The event bus: events published in one process reach the hub of another, on both transports; a dead
subscriber's socket is removed; a transport that is down never reaches the publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import RunningServer, free_port

from services.core.datagram_fanout import DatagramFanout, listening_socket
from services.core.domain import Job, JobState, new_id
from services.core.event_bus import EventBus
from services.core.event_hub import EventHub
from services.core.event_redis import RedisTransport
from services.core.event_socket import SocketTransport, events_folder
from services.core.events import Event, EventKind
from services.core.settings import Settings
from services.core.worker_runtime import WorkerContext

# Publishes the given number of photo.done events from a separate process, then flushes.
PUBLISHER = """
import sys
from pathlib import Path
from services.core.event_bus import EventBus
from services.core.event_redis import RedisTransport
from services.core.event_socket import SocketTransport
from services.core.events import Event, EventKind
target, count = sys.argv[1], int(sys.argv[2])
transport = RedisTransport(target) if target.startswith("redis") else SocketTransport(Path(target))
bus = EventBus(transport)
for n in range(count):
    bus.publish(Event(kind=EventKind.photo_done, image_id=f"img{n}", data={"faces": n}))
bus.close()
"""


def publish_from_another_process(target: str, count: int) -> None:
    subprocess.run([sys.executable, "-c", PUBLISHER, target, str(count)], check=True, timeout=60,
                   cwd=Path(__file__).parents[2])


async def receive(hub: EventHub, count: int, publish: str) -> list[Event]:
    runner = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.listening.wait(), 10)
        with hub.subscribe({EventKind.photo_done}) as events:
            await asyncio.to_thread(publish_from_another_process, publish, count)
            return [await asyncio.wait_for(anext(events), 10) for _ in range(count)]
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def test_local_sockets_carry_events_between_processes(tmp_path: Path) -> None:
    received = await receive(EventHub(SocketTransport(tmp_path)), 50, str(tmp_path))
    assert [e.image_id for e in received] == [f"img{n}" for n in range(50)]
    assert received[7].data == {"faces": 7}
    assert not events_folder(tmp_path).exists()  # the hub removed its socket, and the folder, when it stopped


@pytest.mark.servers
async def test_redis_pubsub_carries_events_between_processes(redis_url: str) -> None:
    received = await receive(EventHub(RedisTransport(redis_url)), 50, redis_url)
    assert [e.image_id for e in received] == [f"img{n}" for n in range(50)]


def test_a_dead_subscribers_socket_is_removed(tmp_path: Path) -> None:
    folder = events_folder(tmp_path)
    folder.mkdir(parents=True)
    # A subscriber process that binds its socket and is killed without cleaning up.
    script = f"import socket,os,time; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.bind({str(folder / 'x.sock')!r}); print('up', flush=True); time.sleep(60)"  # noqa: E501
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "up"
    child.kill()
    child.wait()
    assert (folder / "x.sock").exists()
    SocketTransport(tmp_path).send(Event(kind=EventKind.photo_queued).model_dump_json().encode())
    assert not (folder / "x.sock").exists()


def test_a_deep_data_folder_gets_a_short_private_socket_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    folder = events_folder(deep)
    assert len(str(folder)) < 80 and folder == events_folder(deep)  # every process finds the same one
    assert events_folder(Path("/srv/facetag")) == Path("/srv/facetag/events")


def test_the_last_listener_to_leave_removes_the_socket_folder(tmp_path: Path) -> None:
    # Each embedded service on a deep data folder has a stand-in under /tmp: they must not pile up there.
    folder = events_folder(tmp_path / ("d" * 90))
    with listening_socket(folder):
        with listening_socket(folder):
            pass
        assert folder.is_dir()  # one still listens
        DatagramFanout(folder, wait=0).send(b"x")
    assert not folder.exists()
    with listening_socket(folder) as sock:  # and the next one makes it again
        DatagramFanout(folder, wait=0).send(b"again")
        assert sock.recv(16) == b"again"


def test_publishing_while_the_transport_is_down_never_fails_and_warns_once(
        caplog: pytest.LogCaptureFixture) -> None:
    # A real Redis transport whose server is down: nothing listens on its port.
    bus = EventBus(RedisTransport(f"redis://127.0.0.1:{free_port()}/0"))
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="services.core.event_bus"):
        for _ in range(100):
            bus.publish(Event(kind=EventKind.photo_done))
        elapsed = time.perf_counter() - started
        bus.close()
    assert elapsed < 0.5  # the caller only queued them: no connection attempt held it up
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "refused" in warnings[0].getMessage()


def test_redis_down_costs_a_task_nothing() -> None:
    # A port nobody listens on: every send is refused.
    bus = EventBus(RedisTransport("redis://127.0.0.1:1/0"))
    started = time.perf_counter()
    for _ in range(20):
        bus.publish(Event(kind=EventKind.photo_queued))
    assert time.perf_counter() - started < 0.2
    bus.close()


async def test_a_slow_subscriber_loses_the_oldest_events_and_is_told(tmp_path: Path) -> None:
    hub = EventHub(SocketTransport(tmp_path), queue_size=3, replay_buffer=10)
    with hub.subscribe() as events:
        for n in range(5):
            hub.deliver(Event(kind=EventKind.photo_done, image_id=str(n)))
        assert events.take_dropped() == 2 and events.take_dropped() == 0
        assert [(await anext(events)).image_id for _ in range(3)] == ["2", "3", "4"]


async def test_a_reconnecting_subscriber_gets_what_it_missed_if_still_buffered(tmp_path: Path) -> None:
    hub = EventHub(SocketTransport(tmp_path), replay_buffer=3)
    sent = [Event(kind=EventKind.photo_done if n % 2 else EventKind.photo_queued) for n in range(5)]
    for event in sent:
        hub.deliver(event)
    with hub.subscribe({EventKind.photo_done}, after=sent[2].id) as events:
        assert events.replay_complete
        assert (await anext(events)).id == sent[3].id
    with hub.subscribe(after=sent[0].id) as events:  # fell out of the buffer
        assert not events.replay_complete
    assert hub.subscriber_count == 0


async def test_a_workers_job_update_is_announced_as_job_changed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    ctx = WorkerContext(settings)  # a worker process's own loop, stores and bus
    hub = EventHub(SocketTransport(tmp_path))
    runner = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.listening.wait(), 10)
        await asyncio.to_thread(lambda: ctx.stores)  # opened on the worker's loop, off this one
        job = await asyncio.to_thread(ctx.run, ctx.stores.catalog.create_job(Job(id=new_id(), kind="train")))
        with hub.subscribe({EventKind.job_changed}) as events:
            await asyncio.to_thread(ctx.run, ctx.update_job(job.id, state=JobState.running, progress=0.5,
                                                            message="training", result={"big": "not sent"}))
            event = await asyncio.wait_for(anext(events), 10)
        assert event.data == {"job_id": job.id, "state": "running", "progress": 0.5, "message": "training"}
        stored = await asyncio.to_thread(ctx.run, ctx.stores.catalog.get_job(job.id))
        assert stored is not None and stored.progress == 0.5
    finally:
        runner.cancel()
        ctx.events.close()
        await asyncio.to_thread(ctx.run, ctx.stores.close())


@pytest.mark.servers
async def test_after_a_redis_crash_events_flow_again_and_the_outage_is_logged_once(
        crashable_redis: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    transport = RedisTransport(crashable_redis.url)
    bus = EventBus(RedisTransport(crashable_redis.url))
    hub = EventHub(transport)
    runner = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.listening.wait(), 10)
        with caplog.at_level(logging.WARNING), hub.subscribe() as events:
            await asyncio.to_thread(crashable_redis.crash)
            while hub.listening.is_set():  # the hub notices the connection is gone
                await asyncio.sleep(0.05)
            for _ in range(20):  # lost while Redis is down; the publisher never notices
                bus.publish(Event(kind=EventKind.photo_queued))
            await asyncio.to_thread(crashable_redis.start_again)
            await asyncio.wait_for(hub.listening.wait(), 30)  # the hub subscribed again by itself
            bus.publish(Event(kind=EventKind.photo_done, image_id="after"))
            gap = await asyncio.wait_for(events.next_or_gap(), 10)  # subscribers hear that events were lost
            event = await asyncio.wait_for(anext(events), 10)
        assert gap is None and (event.kind, event.image_id) == (EventKind.photo_done, "after")
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert sum("live events are being dropped" in w for w in warnings) == 1, warnings
        assert sum("live events unavailable" in w for w in warnings) == 1, warnings
    finally:
        runner.cancel()
        bus.close()
