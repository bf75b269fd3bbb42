"""Celery wiring: one app, one queue per stage, at-least-once delivery.

Messages carry ids only (claim check). Tasks acknowledge late and are requeued when a worker dies,
so every task must be idempotent. The embedded default uses kombu's file transport in the data
folder, which needs no server; the cluster uses Redis. Both hand a message out on a lease that the
worker renews while it holds it (file_broker, redis_broker): a message held by a worker that died goes
back to the queue ``visibility_timeout`` seconds later, however long tasks take.
"""

from __future__ import annotations

from amqp.exceptions import ChannelError
from celery import Celery

from services.core import file_broker, redis_broker
from services.core.settings import Settings

DETECT_QUEUE = "detect"
CLASSIFY_QUEUE = "classify"
TRAIN_QUEUE = "train"

DETECT_IMAGE = "facetag.detect_image"
PREPARE_FACE = "facetag.prepare_face"
CLASSIFY_IMAGE = "facetag.classify_image"
TRAIN_MODEL = "facetag.train_model"
COLLECT_DATASET = "facetag.collect_dataset"
SWITCH_NETWORK = "facetag.switch_network"
REDETECT_LIBRARY = "facetag.redetect_library"
REDETECT_WATCH = "facetag.redetect_watch"
RETAG_FACES = "facetag.retag_faces"

ROUTES = {
    DETECT_IMAGE: DETECT_QUEUE,
    PREPARE_FACE: DETECT_QUEUE,
    CLASSIFY_IMAGE: CLASSIFY_QUEUE,
    RETAG_FACES: CLASSIFY_QUEUE,
    TRAIN_MODEL: TRAIN_QUEUE,
    COLLECT_DATASET: TRAIN_QUEUE,
    SWITCH_NETWORK: TRAIN_QUEUE,
    REDETECT_LIBRARY: DETECT_QUEUE,
    REDETECT_WATCH: DETECT_QUEUE,
}


def make_celery(settings: Settings) -> Celery:
    app = Celery("facetag")
    if settings.embedded_broker:
        folder = settings.broker_dir / "messages"
        folder.mkdir(parents=True, exist_ok=True)
        broker, transport = f"{file_broker.SCHEME}://", None
        transport_options: dict[str, object] = {
            "visibility_timeout": settings.visibility_timeout, "data_folder_in": str(folder),
            "data_folder_out": str(folder), "polling_interval": 1.0,
            "control_folder": str(settings.broker_dir / "control")}
    else:
        # The URL's redis:// or rediss:// says where, the transport how (with renewed leases).
        broker, transport = settings.broker_url, redis_broker.TRANSPORT
        transport_options = redis_broker.transport_options(settings.visibility_timeout)
    app.conf.update(
        broker_url=broker,
        broker_transport=transport,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        task_default_queue=DETECT_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


def send(app: Celery, task: str, *args: object) -> None:
    """Queue a task by name; the gateway never imports worker code (nor dlib)."""
    app.send_task(task, args=list(args), queue=ROUTES[task])


QUEUE_NOT_FOUND = "404"  # kombu gives the code as text


def waiting_tasks(app: Celery, queue: str) -> int:
    """How many tasks wait in ``queue`` (not counting those workers hold)."""
    with app.connection_for_read() as conn:
        try:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
        except ChannelError as exc:
            # Redis keeps no empty list: a queue that never held a task, or was just emptied, is a 404 there.
            if str(exc.reply_code) == QUEUE_NOT_FOUND:
                return 0
            raise
