"""The embedded broker: tasks sent by one process arrive whole in another."""

from __future__ import annotations

from pathlib import Path

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
