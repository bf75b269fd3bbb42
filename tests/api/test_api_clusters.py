"""Who is this? Clusters of unnamed faces: real celeb5 photos described by the real default network (as the
workers would store them), clustered by the gateway, named a cluster at a time, and undone."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_client import Api

from services.core.clustering import ClusterParams
from services.core.domain import Box, LabelSource, LabelVia
from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.faces.decode import decode_image
from services.core.faces.networks import NETWORKS
from services.core.settings import Settings
from services.gateway import clusters as clusters_module
from services.gateway.clusters import UnnamedFace, full_clustering

PEOPLE = ("ben_afflek", "madonna", "jerry_seinfeld")
TRAIN, VAL = 6, 4  # photos of each person
_photo_numbers = itertools.count(1)


@dataclass(frozen=True)
class RealFace:
    person: str
    split: str
    box: Box
    descriptor: list[float]
    quality: float
    network: str


@pytest.fixture(scope="module")
def real_faces(facedata: Path) -> list[RealFace]:
    """The largest face of the first few train and val photos of each person."""
    settings = Settings()
    analyzer = FaceAnalyzer(FaceFinder.from_settings(settings), Descriptors(settings))
    faces = []
    for person in PEOPLE:
        for split, count in (("train", TRAIN), ("val", VAL)):
            for path in sorted((facedata / "celeb5" / split / person).glob("*.jpg"))[:count]:
                found = analyzer.analyze(decode_image(path.read_bytes(), settings.max_pixels).rgb)
                largest = max(found, key=lambda f: f.box.width * f.box.height)
                assert largest.descriptor is not None
                faces.append(RealFace(person, split, largest.box, largest.descriptor.tolist(),
                                      largest.quality.score, analyzer.descriptors.label))
    return faces


def add(api: Api, faces: list[RealFace], **fields: Any) -> dict[str, list[str]]:
    """Each face on a photo of its own, unnamed, as the detector and classifier leave it; ids by person."""
    ids: dict[str, list[str]] = {}
    for face in faces:
        image = api.add_image(next(_photo_numbers))
        stored = api.add_face(image.id, face.box.left, top=face.box.top, size=face.box.width,
                              descriptor=face.descriptor, descriptor_model=face.network,
                              quality=fields.get("quality", max(face.quality, 0.5)))
        ids.setdefault(face.person, []).append(stored.id)
    return ids


def clusters(api: Api, **params: Any) -> dict[str, Any]:
    response = api.client.get("/v1/clusters", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def members(api: Api, cluster_id: str) -> set[str]:
    response = api.client.get(f"/v1/clusters/{cluster_id}/faces", params={"limit": 500})
    assert response.status_code == 200, response.text
    return {f["face_id"] for f in response.json()["items"]}


def train(faces: list[RealFace]) -> list[RealFace]:
    return [f for f in faces if f.split == "train"]


def test_clusters_form_by_person_naming_one_names_its_faces_and_undo_unnames_them(
        api: Api, real_faces: list[RealFace]) -> None:
    ids = add(api, train(real_faces))
    blurred = add(api, train(real_faces)[:1], quality=0.01)["ben_afflek"][0]  # under the quality gate

    listed = clusters(api, samples=3)
    assert listed["stale"] is False and listed["total"] == 3
    assert [c["size"] for c in listed["items"]] == [TRAIN] * 3
    by_person = {person: next(c for c in listed["items"] if set(ids[person]) == members(api, c["id"]))
                 for person in PEOPLE}  # each person is one cluster, and each cluster one person
    ben = by_person["ben_afflek"]
    assert len(ben["samples"]) == 3 and all(s["face_id"] in ids["ben_afflek"] for s in ben["samples"])
    assert ben["samples"][0]["chip_url"] == f"/v1/faces/{ben['samples'][0]['face_id']}/chip"
    assert ben["id"] in ids["ben_afflek"] and ben["suggestion"] is None  # nobody is named yet
    assert blurred not in set().union(*(members(api, c["id"]) for c in listed["items"]))
    assert listed["unclustered_faces"] == 0  # the blurred face is not even counted: it stays out

    pulled_out = ids["ben_afflek"][-1]
    response = api.client.post(f"/v1/clusters/{ben['id']}/name",
                               json={"name": "Ben Affleck", "exclude_face_ids": [pulled_out, "not-in-it"]})
    assert response.status_code == 200, response.text
    named = response.json()
    assert named["named"] == TRAIN - 1 and named["excluded"] == [pulled_out] and named["skipped"] == []
    assert named["action"]["undo_url"] == f"/v1/actions/{named['action']['id']}/undo"
    for face_id in ids["ben_afflek"]:
        face = api.client.get(f"/v1/faces/{face_id}").json()
        if face_id == pulled_out:
            assert face["person"] is None and face["label_source"] is None
        else:
            assert face["person"]["name"] == "Ben Affleck"
            assert face["label_source"] == LabelSource.person and face["label_via"] == LabelVia.cluster
    after = clusters(api)
    assert after["total"] == 2 and ben["id"] not in {c["id"] for c in after["items"]}  # one face left: no cluster
    assert api.client.get(f"/v1/clusters/{ben['id']}/faces").status_code == 404

    undone = api.client.post(named["action"]["undo_url"])
    assert undone.status_code == 200, undone.text
    for face_id in ids["ben_afflek"]:
        assert api.client.get(f"/v1/faces/{face_id}").json()["person"] is None
    people = api.client.get("/v1/people").json()["items"]
    assert "Ben Affleck" not in {p["name"] for p in people}  # made for it, gone again
    again = clusters(api)
    assert again["total"] == 3 and members(api, ben["id"]) == set(ids["ben_afflek"])  # the same id as before


def test_a_cluster_keeps_its_id_as_it_grows_and_looks_like_someone_named(
        api: Api, real_faces: list[RealFace]) -> None:
    ids = add(api, train(real_faces))
    madonna = api.person("Madonna")
    for face_id in ids["madonna"]:
        api.run(api.catalog.set_person_label, face_id, madonna["id"])
    first = {c["id"]: c for c in clusters(api)["items"]}
    assert len(first) == 2 and all(c["suggestion"] is None for c in first.values())  # named faces left

    val = add(api, [f for f in real_faces if f.split == "val"])
    grown = {c["id"]: c for c in clusters(api)["items"]}
    for cluster_id, cluster in first.items():  # new faces joined the clusters they belong to, ids kept
        person = next(p for p in PEOPLE if cluster_id in ids[p])
        assert members(api, cluster_id) == set(ids[person]) | set(val[person])
        assert grown[cluster_id]["size"] == cluster["size"] + VAL
    (new_one,) = set(grown) - set(first)  # madonna's unnamed val faces: "Is this Madonna?"
    assert members(api, new_one) == set(val["madonna"])
    suggestion = grown[new_one]["suggestion"]
    assert suggestion["person_id"] == madonna["id"] and suggestion["name"] == "Madonna"
    assert 0 <= suggestion["distance"] < 1.0

    response = api.client.post(f"/v1/clusters/{new_one}/name", json={"person_id": madonna["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["named"] == VAL
    people = {p["name"]: p for p in api.client.get("/v1/people").json()["items"]}
    assert people["Madonna"]["face_count"] == TRAIN + VAL


def test_faces_said_not_to_be_someone_are_not_named_them(api: Api, real_faces: list[RealFace]) -> None:
    ids = add(api, train(real_faces))
    jerry = api.person("Jerry Seinfeld")
    refused = ids["jerry_seinfeld"][0]
    response = api.client.post(f"/v1/faces/{refused}/not", json={"person_id": jerry["id"]})
    assert response.status_code == 200, response.text
    (cluster,) = [c for c in clusters(api)["items"] if refused in members(api, c["id"])]
    assert cluster["suggestion"] is None  # a face of it was said not to be Jerry

    named = api.client.post(f"/v1/clusters/{cluster['id']}/name", json={"person_id": jerry["id"]}).json()
    assert named["skipped"] == [refused] and named["named"] == TRAIN - 1
    assert api.client.get(f"/v1/faces/{refused}").json()["person"] is None


def test_cluster_pages_unknown_ids_and_bad_bodies(api: Api, real_faces: list[RealFace]) -> None:
    ids = add(api, train(real_faces))
    (cluster,) = [c for c in clusters(api)["items"] if c["id"] in ids["madonna"]]
    first = api.client.get(f"/v1/clusters/{cluster['id']}/faces", params={"limit": 2}).json()
    page = api.client.get(f"/v1/clusters/{cluster['id']}/faces", params={"cursor": first["next_cursor"],
                                                                         "limit": 3}).json()
    assert page["size"] == TRAIN and len(page["items"]) == 3
    everything = api.client.get(f"/v1/clusters/{cluster['id']}/faces").json()["items"]
    assert [f["face_id"] for f in everything[2:5]] == [f["face_id"] for f in page["items"]]
    assert len(clusters(api, limit=1)["items"]) == 1

    url = f"/v1/clusters/{cluster['id']}/name"
    assert api.client.get("/v1/clusters/nope/faces").status_code == 404
    assert api.client.post("/v1/clusters/nope/name", json={"name": "X"}).status_code == 404
    assert api.client.post(url, json={"person_id": "nobody"}).status_code == 404
    bad: dict[str, Any]
    for bad in ({}, {"name": "A", "person_id": "b"}, {"exclude_face_ids": []}, {"name": ""},
                {"name": "A", "exclude_face_ids": "f1"}, {"name": "A", "extra": 1}, {"name": 5}):
        response = api.client.post(url, json=bad)
        assert response.status_code == 422, (bad, response.text)
    for params in ({"limit": 0}, {"samples": 51}, {"limit": "x"}):
        assert api.client.get("/v1/clusters", params=params).status_code == 422
    everyone = api.client.post(url, json={"name": "A", "exclude_face_ids": ids["madonna"]})
    assert everyone.status_code == 409 and "nothing left" in everyone.json()["message"]
    assert all(api.client.get(f"/v1/faces/{f}").json()["person"] is None for f in ids["madonna"])


def test_one_person_alone_still_makes_a_cluster(api: Api, real_faces: list[RealFace]) -> None:
    ids = add(api, [f for f in real_faces if f.person == "jerry_seinfeld"])  # a new library of one person
    listed = clusters(api)
    assert listed["total"] == 1 and members(api, listed["items"][0]["id"]) == set(ids["jerry_seinfeld"])


def test_two_gateways_find_the_same_clusters_whatever_order_they_read_faces_in(real_faces: list[RealFace]) -> None:
    net = NETWORKS["sface"]
    epoch = datetime(2024, 5, 1, tzinfo=UTC)
    faces = [UnnamedFace(f"face-{i:03d}", f"image-{i:03d}", epoch + timedelta(minutes=i), frozenset())
             for i in range(len(real_faces))]
    vectors = np.asarray([f.descriptor for f in real_faces], dtype=np.float32)
    params = ClusterParams.for_network(net.default_threshold)
    first = full_clustering(faces, vectors, params, net.normalised, "sface-2021dec")
    order = np.random.default_rng(3).permutation(len(faces))
    second = full_clustering([faces[i] for i in order], vectors[order], params, net.normalised, "sface-2021dec")
    assert len(first.clusters) == len(PEOPLE)
    assert {cid: set(c.members) for cid, c in first.clusters.items()} == \
        {cid: set(c.members) for cid, c in second.clusters.items()}
    for cid, cluster in first.clusters.items():  # each is named after its oldest face
        assert cid == min(cluster.members, key=lambda f: faces[int(f.split("-")[1])].created_at)


def test_a_background_clustering_is_shown_as_soon_as_it_is_done_however_slow_reads_are(
        api: Api, real_faces: list[RealFace], monkeypatch: pytest.MonkeyPatch) -> None:
    # A big library whose reads count as slow: the index reads again only when it must. The clusters made in
    # the background must still reach the next request, never an empty list that claims to be up to date.
    monkeypatch.setattr(clusters_module, "SYNC_LIMIT", 4)
    monkeypatch.setattr(clusters_module, "FAST_READ", 0.0)
    monkeypatch.setattr(clusters_module, "REREAD_AFTER", 1e6)
    add(api, train(real_faces))
    deadline = time.monotonic() + 60
    listed = clusters(api)
    while listed["stale"] and time.monotonic() < deadline:
        time.sleep(0.1)
        listed = clusters(api)
    assert not listed["stale"] and listed["total"] == 3


def test_a_big_library_gets_the_last_clusters_kept_up_while_it_is_clustered_again(
        api: Api, real_faces: list[RealFace], monkeypatch: pytest.MonkeyPatch) -> None:
    # "Big" here: more unnamed faces than a request may cluster itself, so a background thread does it.
    monkeypatch.setattr(clusters_module, "SYNC_LIMIT", 4)
    monkeypatch.setattr(clusters_module, "RECLUSTER_MIN", 1)
    ids = add(api, train(real_faces))

    def settled() -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = clusters(api)
            if not listed["stale"]:
                return listed
            time.sleep(0.1)
        raise AssertionError("the clusters stayed stale")

    first = settled()
    assert first["total"] == 3
    val = add(api, [f for f in real_faces if f.split == "val"])
    grown = clusters(api)  # new faces join the clusters they are near at once, before any clustering again
    for person in PEOPLE:
        (cluster,) = [c for c in grown["items"] if c["id"] in ids[person]]
        assert cluster["size"] > TRAIN and {s["face_id"] for s in cluster["samples"]} <= set(ids[person] + val[person])
    again = settled()  # then clustered again from scratch, in the background: the same ids, every face
    assert {c["id"] for c in again["items"]} == {c["id"] for c in grown["items"]}
    for person in PEOPLE:
        (cluster,) = [c for c in again["items"] if c["id"] in ids[person]]
        assert members(api, cluster["id"]) == set(ids[person]) | set(val[person])
