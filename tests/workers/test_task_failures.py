"""The workers' failure policy on real stores: bad images fail at once with their reason,
transient errors are retried with backoff, and after the last retry the photo is failed, not lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.core import blob_layout
from services.core.catalog import open_catalog
from services.core.domain import ImageQuery, ImageRecord, ImageStatus, new_id
from services.core.settings import Settings
from services.core.worker_runtime import WorkerContext, run_image_task
from services.detector.pipeline import Detector


class RetryRequested(Exception):
    pass


def _task(retries: int) -> Any:
    """What the policy reads from a bound Celery task: its name, id, retry count and ``retry``."""
    calls: list[float] = []

    def retry(exc: Exception, countdown: float) -> RetryRequested:
        calls.append(countdown)
        return RetryRequested(str(exc))

    request = SimpleNamespace(id=f"task-{retries}", retries=retries)
    return SimpleNamespace(name="facetag.detect_image", request=request, retry=retry, countdowns=calls)


@pytest.fixture
def ctx(tmp_path: Path) -> WorkerContext:
    return WorkerContext(Settings(data_dir=tmp_path, task_max_retries=3, task_retry_backoff=2.0))


def _queued_image(ctx: WorkerContext, original: bytes | None) -> str:
    image = ImageRecord(id=new_id(), sha256=new_id(), filename="x.jpg", content_type="image/jpeg")
    ctx.run(ctx.stores.catalog.add_image(image))
    if original is not None:
        ctx.stores.blobs.put(blob_layout.original(image.id), original)
    return image.id


def _image(ctx: WorkerContext, image_id: str) -> ImageRecord:
    image = ctx.run(ctx.stores.catalog.get_image(image_id))
    assert image is not None
    return image


def test_damaged_original_fails_at_once_with_its_reason(ctx: WorkerContext, facedata: Path) -> None:
    damaged = (facedata / "bad" / "broken" / "truncated_half_madonna.jpg").read_bytes()
    image_id = _queued_image(ctx, damaged)
    task = _task(retries=0)
    run_image_task(ctx, task, image_id, Detector(ctx, celery=None).detect(image_id))  # type: ignore[arg-type]
    image = _image(ctx, image_id)
    assert image.status == ImageStatus.failed and "cut off" in (image.error or "")
    assert task.countdowns == []


def test_missing_original_fails_with_a_reason(ctx: WorkerContext) -> None:
    image_id = _queued_image(ctx, None)
    run_image_task(ctx, _task(0), image_id, Detector(ctx, celery=None).detect(image_id))  # type: ignore[arg-type]
    image = _image(ctx, image_id)
    assert image.status == ImageStatus.failed and image.error


async def _store_outage() -> None:
    raise ConnectionError("catalog at 10.0.0.9:27017 did not answer")


def test_transient_error_is_retried_with_doubling_backoff(ctx: WorkerContext) -> None:
    image_id = _queued_image(ctx, b"")
    for retries, expected in ((0, 2.0), (1, 4.0), (2, 8.0)):
        task = _task(retries)
        with pytest.raises(RetryRequested, match="did not answer"):
            run_image_task(ctx, task, image_id, _store_outage())
        assert task.countdowns == [expected]
    assert _image(ctx, image_id).status == ImageStatus.queued


def test_after_the_last_retry_the_photo_is_failed_with_the_reason(ctx: WorkerContext) -> None:
    image_id = _queued_image(ctx, b"")
    run_image_task(ctx, _task(retries=3), image_id, _store_outage())
    image = _image(ctx, image_id)
    assert image.status == ImageStatus.failed
    assert "did not answer" in (image.error or "") and "after 4 attempts" in (image.error or "")


def test_a_photo_deleted_during_detection_leaves_no_blob(ctx: WorkerContext, facedata: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    image_id = _queued_image(ctx, (facedata / "facetag_samples" / "ben_mat_1.jpg").read_bytes())
    detector = Detector(ctx, celery=None)  # type: ignore[arg-type]
    finder = detector.finder
    real_find = finder.find

    def find_then_the_photo_is_deleted(rgb: Any) -> Any:
        found = real_find(rgb)
        # What DELETE /v1/images/{id} does in the gateway, while the detector is busy with the photo.
        ctx.stores.blobs.delete_prefix(blob_layout.image_prefix(image_id))

        async def delete() -> None:
            gateway = open_catalog(ctx.settings.catalog_url)
            await gateway.delete_image(image_id)
            await gateway.close()

        asyncio.run(delete())
        return found

    monkeypatch.setattr(finder, "find", find_then_the_photo_is_deleted)
    ctx.run(detector.detect(image_id))
    assert ctx.stores.blobs.list(blob_layout.image_prefix(image_id)) == []
    assert ctx.run(ctx.stores.catalog.get_image(image_id)) is None


def test_a_detect_task_redelivered_after_detection_queues_the_classification_again(
        ctx: WorkerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """The detector that marked the photo "classifying" died before it queued the classification."""
    from services.detector import pipeline

    image_id = _queued_image(ctx, None)
    ctx.run(ctx.stores.catalog.set_image_status(image_id, ImageStatus.classifying))
    sent: list[tuple[str, tuple[object, ...]]] = []
    monkeypatch.setattr(pipeline, "send", lambda _celery, task, *args: sent.append((task, args)))
    run_image_task(ctx, _task(retries=0), image_id, Detector(ctx, celery=None).detect(image_id))  # type: ignore[arg-type]
    assert sent == [("facetag.classify_image", (image_id,))]
    assert _image(ctx, image_id).status is ImageStatus.classifying



def test_a_task_that_reaches_the_stores_from_inside_the_loop_runs_as_the_workers_first_task(tmp_path: Path) -> None:
    """A library re-detection was the first task of a fresh worker: it looked the stores up from inside the
    running loop, which could not be run again to open them ("This event loop is already running")."""
    settings = Settings(data_dir=tmp_path)
    _queued_image(WorkerContext(settings), None)  # another process put a photo in
    fresh = WorkerContext(settings)

    async def count_photos() -> int:
        return len((await fresh.stores.catalog.list_images(ImageQuery())).items)

    assert fresh.run(count_photos()) == 1
