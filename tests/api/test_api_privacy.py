"""The controls the people in the photos have: never tag me, export everything about me, erase me, and a
deleted photo that leaves nothing behind. On both catalogs; the stores are searched for what is left."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import zipfile

import numpy as np
from api_client import Api
from traces import find_traces

from services.core import blob_layout
from services.core import registry as reg
from services.core.domain import Job, JobState, LabelSource, new_id
from services.trainer.dataset import build_dataset_zip


def _descriptor(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def _library(api: Api) -> dict[str, object]:
    """Ann on three photos (one of them with Bob), Bob on two; a dataset zip, a training snapshot, a
    published model that learnt both, and its training job's per-person metrics."""
    ann, bob = api.person("Ann"), api.person("Bob")
    faces: dict[str, list[str]] = {"ann": [], "bob": []}
    descriptors: dict[str, list[list[float]]] = {"ann": [], "bob": []}
    images = [api.add_image(n) for n in range(4)]
    for n, (who, image) in enumerate([("ann", images[0]), ("ann", images[1]), ("ann", images[2]),
                                      ("bob", images[2]), ("bob", images[3])]):
        vector = _descriptor(n)
        face = api.add_face(image.id, 10 + 100 * n, descriptor=vector)
        api.name_face(face.id, "Ann" if who == "ann" else "Bob")
        faces[who].append(face.id)
        descriptors[who].append(vector)
    data, _ = api.run(build_dataset_zip, api.catalog, api.blobs.get, None, ["person"], _no_progress)
    api.blobs.put(blob_layout.dataset_zip("d1"), data, "application/zip")
    people = np.array([ann["id"], bob["id"]])
    gallery = np.array(descriptors["ann"] + descriptors["bob"], dtype=np.float32)
    snapshot = io.BytesIO()
    np.savez_compressed(snapshot, face_ids=np.array(faces["ann"] + faces["bob"]), descriptors=gallery,
                        person=np.array([0, 0, 0, 1, 1]), people=people, held_out=np.zeros(5, bool))
    api.blobs.put("datasets/train-v1/snapshot.npz", snapshot.getvalue())
    model = gallery.tobytes()  # the gallery is what a published graph carries of each face
    manifest = reg.ModelManifest(version="v1", labels=[reg.ModelLabel(id=ann["id"], name="Ann"),
                                                       reg.ModelLabel(id=bob["id"], name="Bob")],
                                 threshold=0.5, backbone_sha256="x", sha256=reg.sha256_bytes(model))
    registry = reg.Registry(api.blobs)
    registry.write_version(manifest, model)
    registry.set_current("v1", "test", verify=False)
    job = api.run(api.catalog.create_job, Job(id=new_id(), kind="train", params={}))
    result = {"metrics": {"per_person": {"Ann": {"person_id": ann["id"], "accuracy": 1.0},
                                         "Bob": {"person_id": bob["id"], "accuracy": 1.0}}}}
    api.run(functools.partial(api.catalog.update_job, job.id, state=JobState.done, result=result))
    api.client.patch(f"/v1/people/{ann['id']}", json={"name": "Ann Smith"})  # an audit entry with her names
    # Undoable corrections that name her: a "not Ann" on Bob's face, and her faces confirmed as a selection.
    assert api.client.post(f"/v1/faces/{faces['bob'][0]}/not", json={"person_id": ann["id"]}).status_code == 200
    confirmed = api.client.post("/v1/faces/batch", json={"face_ids": faces["ann"], "change": "confirm"})
    assert confirmed.status_code == 200, confirmed.text
    return {"ann": ann, "bob": bob, "faces": faces, "descriptors": descriptors, "images": images}


async def _no_progress(_: float, __: str) -> None:
    await asyncio.sleep(0)


def test_erasing_a_person_leaves_no_trace_and_reports_what_went(api: Api) -> None:
    library = _library(api)
    ann, bob = library["ann"], library["bob"]
    faces, descriptors = library["faces"], library["descriptors"]
    assert isinstance(ann, dict) and isinstance(bob, dict) and isinstance(faces, dict) and isinstance(descriptors, dict)
    ann_ids = {ann["id"], *faces["ann"]}
    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    assert find_traces(settings.catalog_url, settings.blob_url, ann_ids, descriptors["ann"])  # the search works

    response = api.client.post(f"/v1/people/{ann['id']}/erase")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["faces_removed"] == 3 and report["chips_removed"] == 3 and report["images_affected"] == 3
    assert report["datasets_rewritten"] == ["d1"] and report["models_withdrawn"] == ["v1"]
    assert report["current_model"] is None and report["retrain_job_id"] and report["leftovers"] == []
    assert report["audit_entries_redacted"] >= 2 and report["jobs_scrubbed"] == 1 and report["actions_removed"] == 2

    assert find_traces(settings.catalog_url, settings.blob_url, ann_ids, descriptors["ann"]) == []
    # Bob is untouched: his faces, his chips, his rows in the dataset.
    assert {f["id"] for f in api.client.get(f"/v1/people/{bob['id']}/faces").json()["items"]} == set(faces["bob"])
    with zipfile.ZipFile(io.BytesIO(api.blobs.get(blob_layout.dataset_zip("d1")))) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert {item["face_id"] for item in manifest["items"]} == set(faces["bob"]) and manifest["faces"] == 2
    # The photos stay (Bob is on one of them) and a retraining without her is queued.
    assert all(api.client.get(f"/v1/images/{i.id}").status_code == 200 for i in library["images"])  # type: ignore[attr-defined]
    audit = api.client.get("/v1/admin/audit", params={"action": "person.erase"}).json()["items"]
    assert audit[0]["target_id"] == report["reference"] and ann["id"] not in str(audit)
    # Nothing in the audit trail names her any more, the corrections' summaries included.
    everything = str(api.client.get("/v1/admin/audit", params={"limit": 200}).json())
    assert "Ann Smith" not in everything


def test_export_gives_every_photo_with_boxes_names_and_dates(api: Api) -> None:
    library = _library(api)
    ann = library["ann"]
    assert isinstance(ann, dict)
    response = api.client.get(f"/v1/people/{ann['id']}/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        summary = json.loads(archive.read("person.json"))
        assert summary["person"]["name"] == "Ann Smith"
        assert len(summary["photos"]) == 3 and all(archive.read(p["file"]) == b"original" for p in summary["photos"])
        boxes = [f["box"] for p in summary["photos"] for f in p["faces"]]
        assert len(boxes) == 3 and all(b["width"] == 50 for b in boxes)
        assert all(f["labelled_by"] == "person" and f["labelled_at"] for p in summary["photos"] for f in p["faces"])
    assert len(api.client.get("/v1/admin/audit", params={"action": "person.export"}).json()["items"]) == 1


def test_never_tag_keeps_a_person_from_every_model_while_people_can_still_name_them(api: Api) -> None:
    carl = api.person("Carl")
    image = api.add_image(7)
    guessed, named = api.add_face(image.id, 10), api.add_face(image.id, 200)
    api.model_label(guessed.id, carl["id"])
    api.name_face(named.id, "Carl")
    response = api.client.patch(f"/v1/people/{carl['id']}", json={"never_tag": True})
    assert response.status_code == 200 and response.json()["never_tag"] is True
    faces = {f["id"]: f for f in api.image(image.id)["faces"]}
    assert faces[guessed.id]["person"] is None  # the model's guess of him is gone
    assert faces[named.id]["person"]["name"] == "Carl"  # what a person said stays
    assert api.model_label(guessed.id, carl["id"]) is True  # a later model run names him again...
    stored = api.run(api.catalog.get_face, guessed.id)
    assert stored is not None and stored.person_id is None and stored.label_source == LabelSource.model  # ...no
    assert api.client.get(f"/v1/people/{carl['id']}").json()["never_tag"] is True  # the opt-out itself is kept


def test_deleting_a_photo_leaves_no_original_thumbnail_or_chip(api: Api) -> None:
    image = api.add_image(9)
    face = api.add_face(image.id, 10, descriptor=_descriptor(99))
    assert api.client.delete(f"/v1/images/{image.id}").status_code == 204
    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    assert api.blobs.list(blob_layout.image_prefix(image.id)) == []
    # The face and its descriptor are gone everywhere; the photo's id stays only in the audit trail's entry.
    assert find_traces(settings.catalog_url, settings.blob_url, {face.id}, [_descriptor(99)]) == []
    entries = api.client.get("/v1/admin/audit", params={"target_id": image.id}).json()["items"]
    assert [e["action"] for e in entries] == ["image.delete"]
