"""What a live event costs: the publisher's call, the sender's work, and the trip to another process's hub.

Run: nice -n 10 .venv/bin/python bench/event_bus.py [--events 5000] [--redis redis://127.0.0.1:6379/0]

For the embedded transport (Unix datagram sockets in a temporary data folder) and, with ``--redis``, for
Redis pub/sub: a hub listens in this process, a child process publishes ``--events`` photo.done events
through ``EventBus`` as a worker does, one every millisecond. Printed per transport:

- publish: the caller's time per ``EventBus.publish`` (serialising and queueing; what a task pays);
- send: the sender thread's time per event (one stat plus one ``sendto`` per subscriber, or one PUBLISH);
- latency p50/p95/max: from just before ``publish`` in the child to the hub handing the event to its
  subscriber here (both clocks are the machine's monotonic clock);
- received: how many arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.core.event_hub import EventHub
from services.core.event_redis import RedisTransport
from services.core.event_socket import SocketTransport

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
from pathlib import Path
from services.core.event_bus import EventBus
from services.core.event_redis import RedisTransport
from services.core.event_socket import SocketTransport
from services.core.events import Event, EventKind
target, count = sys.argv[1], int(sys.argv[2])
transport = RedisTransport(target) if target.startswith("redis") else SocketTransport(Path(target))
sending = 0.0
send = transport.send
def timed_send(payload):
    global sending
    started = time.perf_counter()
    send(payload)
    sending += time.perf_counter() - started
transport.send = timed_send
bus = EventBus(transport)
publishing = 0.0
for n in range(count):
    event = Event(kind=EventKind.photo_done, image_id=str(n), data={"faces": 2, "sent": time.monotonic()})
    started = time.perf_counter()
    bus.publish(event)
    publishing += time.perf_counter() - started
    time.sleep(0.001)
bus.close(10)
print(publishing / count * 1e6, sending / count * 1e6)
"""


async def measure(transport: SocketTransport | RedisTransport, target: str, count: int) -> None:
    hub = EventHub(transport, queue_size=count)
    runner = asyncio.create_task(hub.run())
    await asyncio.wait_for(hub.listening.wait(), 10)
    latencies: list[float] = []
    with hub.subscribe() as events:
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, target, str(count), cwd=REPO,
                                                     stdout=subprocess.PIPE)
        with contextlib.suppress(TimeoutError):
            while len(latencies) < count:
                event = await asyncio.wait_for(anext(events), 5)
                latencies.append(time.monotonic() - event.data["sent"])
        out, _ = await child.communicate()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    publish_us, send_us = (float(x) for x in out.split())
    ms = sorted(1000 * x for x in latencies)
    print(f"{type(transport).__name__:16} publish {publish_us:6.1f} µs  send {send_us:6.1f} µs  "
          f"latency p50 {statistics.median(ms):5.2f} ms  p95 {ms[int(0.95 * (len(ms) - 1))]:5.2f} ms  "
          f"max {ms[-1]:6.2f} ms  received {len(ms)}/{count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--redis", help="redis://host:port/db to measure Redis pub/sub too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(SocketTransport(Path(folder)), folder, args.events))
    if args.redis:
        asyncio.run(measure(RedisTransport(args.redis), args.redis, args.events))


if __name__ == "__main__":
    main()
