"""No orphans in the stores: blobs of photos and faces deleted mid-processing are swept, and only once two
sweeps agree (an upload writes its original a moment before its record)."""

from __future__ import annotations

from api_client import Api

from services.core import blob_layout
from services.core.orphans import OrphanSweep


def test_the_sweep_removes_blobs_of_deleted_photos_and_faces_and_nothing_else(api: Api) -> None:
    kept = api.add_image(1)
    face = api.add_face(kept.id, 10)
    # What a detector still writing after a delete leaves: a deleted photo's thumbnail and chip, and the chip
    # of a face removed while its chip was cut.
    gone = "0" * 32
    api.blobs.put(blob_layout.thumbnail(gone), b"thumb")
    api.blobs.put(blob_layout.chip(gone, f"{gone}-000"), b"chip")
    api.blobs.put(blob_layout.chip(kept.id, "f" * 32), b"chip")
    stores = api.client.app.state.stores  # type: ignore[attr-defined]
    sweep = OrphanSweep()
    assert api.run(sweep.sweep, stores) == []  # first sight: suspects only (could be an upload in flight)
    api.blobs.put(blob_layout.original("1" * 32), b"an upload whose record is being written")
    removed = api.run(sweep.sweep, stores)
    assert sorted(removed) == sorted([blob_layout.thumbnail(gone), blob_layout.chip(gone, f"{gone}-000"),
                                      blob_layout.chip(kept.id, "f" * 32)])
    assert api.blobs.exists(blob_layout.original("1" * 32))  # seen once: not yet
    assert api.blobs.exists(blob_layout.original(kept.id)) and face.chip_key and api.blobs.exists(face.chip_key)
    assert api.run(sweep.sweep, stores) == [blob_layout.original("1" * 32)]  # still no record: it goes
