"""Upload photos and follow them through the pipeline."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile

from services.core import blob_layout
from services.core.cursors import ImageKey, decode
from services.core.domain import ImageQuery, ImageRecord, ImageStatus, new_id
from services.core.events import Event, EventKind
from services.core.faces.decode import inspect_image
from services.core.queue import DETECT_IMAGE
from services.gateway.deps import OutboxDep, SettingsDep, StoresDep
from services.gateway.errors import ApiError
from services.gateway.inputs import Instant, QueryFlag
from services.gateway.live_events import publish
from services.gateway.live_outputs.targets import MAX_URL_LENGTH, URL_PATTERN
from services.gateway.live_outputs.upload_callbacks import checked_callback
from services.gateway.live_outputs.upload_callbacks import remember as remember_callback
from services.gateway.paging import Cursor
from services.gateway.photo_wait import FINISHED, MAX_WAIT_SECONDS, image_when_finished, stored_image
from services.gateway.presenters import image_out, image_outs
from services.gateway.responses import error, errors
from services.gateway.schemas import ImageOut, ImagePage
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/images", tags=["images"])

CALLBACK_HELP = ("Where to POST this photo's photo.done (or photo.failed) event, signed with the sha256 of your API "
                 "token (see the README's Webhooks section); http(s) to a public address. Not sent for a photo that "
                 "was finished already: the answer holds its result.")

CHUNK = 1 << 20


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"The file is larger than the upload limit of {limit:,} bytes.", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    status_code=202,
    response_model=ImageOut,
    responses={200: {"model": ImageOut, "description": "These exact bytes were uploaded before."},
               **errors(400, 413, 415),
               422: error(422, "The file is an image that cannot be used (too small, one flat colour, cut off "
                               "or damaged), the form has no file part, or its callback_url is refused; the message "
                               "says which.")},
    summary="Upload a photo; faces are found in the background",
    dependencies=[allow(Policy.upload)],
)
async def upload_image(
    request: Request,
    response: Response,
    stores: StoresDep,
    settings: SettingsDep,
    outbox: OutboxDep,
    file: Annotated[UploadFile, File(description="The photo: JPEG, PNG, WebP, BMP, TIFF or GIF.")],
    callback_url: Annotated[str | None, Form(max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": URL_PATTERN},
                                             description=CALLBACK_HELP)] = None,
) -> ImageOut:
    callback = None if callback_url is None else await checked_callback(request, callback_url, settings)
    data = await read_limited(file, settings.max_upload_bytes)
    decoded = await asyncio.to_thread(inspect_image, data, settings.max_pixels)
    image = ImageRecord(
        id=new_id(),
        sha256=hashlib.sha256(data).hexdigest(),
        filename=(file.filename or "")[:255],
        content_type=decoded.media_type,
        width=decoded.width,
        height=decoded.height,
        size_bytes=len(data),
        taken_at=decoded.taken_at,
    )
    # The bytes go first: a record never points at a missing original.
    await asyncio.to_thread(stores.blobs.put, blob_layout.original(image.id), data, image.content_type)
    stored, created = await stores.catalog.add_image(image)
    if callback is not None and stored.status not in FINISHED:
        await remember_callback(request, callback, stored.id)
    if not created:
        await asyncio.to_thread(stores.blobs.delete, blob_layout.original(image.id))
        if stored.status is ImageStatus.queued:
            # The earlier upload's answer may have been lost after its record was written (the catalog died
            # as it answered) and its task never sent: send it now; a task twice is harmless.
            await outbox.send(DETECT_IMAGE, stored.id)
        response.status_code = 200
        return await image_out(stored, stores.catalog)
    await outbox.send(DETECT_IMAGE, stored.id)  # the broker down: the photo is safe, its task sent when it is back
    publish(request, Event(kind=EventKind.photo_queued, image_id=stored.id, data={"filename": stored.filename}))
    response.headers["Location"] = f"/v1/images/{stored.id}"
    await audit(request, "image.upload", "image", stored.id, after={"filename": stored.filename})
    return await image_out(stored, stores.catalog)


@router.get("", response_model=ImagePage, summary="List photos, newest first, a page at a time",
            description="Follow next_cursor for the next page; photos uploaded during a walk come before it and "
                        "never shift it, so each photo is seen once.",
            dependencies=[allow(Policy.read)])
async def list_images(
    stores: StoresDep,
    status: ImageStatus | None = None,
    person: Annotated[list[str], Query(description="Person name; repeat for photos with all of them.")] = [],  # noqa: B006
    has_unknown: Annotated[QueryFlag | None, Query(description="Only photos with (true) or without (false) "
                                                          "unknown faces.")] = None,
    uploaded_from: Annotated[Instant | None, Query(description="Uploaded at or after this time.")] = None,
    uploaded_to: Annotated[Instant | None, Query(description="Uploaded at or before this time.")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ImagePage:
    after = decode(ImageKey, cursor)
    person_ids = []
    for name in person:
        found = await stores.catalog.find_person(name.strip())
        if found is None:  # nobody by that name: no photo can show them
            return ImagePage(items=[], next_cursor=None)
        person_ids.append(found.id)
    query = ImageQuery(status=status, person_ids=person_ids, has_unknown=has_unknown,
                       uploaded_from=uploaded_from, uploaded_to=uploaded_to, after=after, limit=limit)
    page = await stores.catalog.list_images(query)
    return ImagePage(items=await image_outs(page.items, stores.catalog), next_cursor=page.next_cursor)


async def get_image_or_404(stores: StoresDep, image_id: str) -> ImageRecord:
    return await stored_image(stores.catalog, image_id)


@router.get("/{image_id}", response_model=ImageOut, summary="A photo, its status and faces",
            dependencies=[allow(Policy.results)])
async def get_image(
    request: Request, image_id: str, stores: StoresDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description=(
        "Seconds to wait for the photo to be done or failed before answering (0: answer at once). The answer comes "
        "as soon as it finishes: one request instead of polling. Still unfinished when the time is up: the photo "
        "as it is then; ask again."))] = 0,
) -> ImageOut:
    if wait > 0:
        image = await image_when_finished(request.app.state.event_hub, stores.catalog, image_id, wait)
    else:
        image = await get_image_or_404(stores, image_id)
    return await image_out(image, stores.catalog)
