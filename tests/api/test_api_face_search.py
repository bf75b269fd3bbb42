"""Search by face and verification: real photos, the real face networks in the gateway, real descriptors
in the catalog (made by the same networks from celeb5 `train` photos, as the workers would make them)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_client import Api
from fastapi.testclient import TestClient
from PIL import Image

from services.core.catalog import Catalog, FaceQuery
from services.core.domain import Box, FaceRecord, ImageRecord, ImageStatus, new_id
from services.core.event_bus import EventBus
from services.core.events import Event, EventKind
from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.faces.decode import decode_image
from services.core.faces.networks import NETWORKS
from services.core.settings import Settings
from services.gateway import app as gateway_app
from services.gateway import face_index, face_matching
from services.gateway.face_matching import CalibrationCache, Ranking, rank_library
from services.gateway.face_probe import Probe

INDEX_SECONDS = 10.0  # a face added or deleted anywhere is searched (or not) within this
NAMED = ("ben_afflek", "madonna", "jerry_seinfeld")  # named in the library
HIDDEN = "mindy_kaling"  # named, then marked never_tag
UNNAMED = "elton_john"  # in the library, nobody named him
PER_PERSON = 4
PEOPLE_DIRECTLY_AFTER = face_index.PEOPLE_DIRECTLY_AFTER  # as served


@dataclass(frozen=True)
class LibraryFace:
    person: str
    box: Box
    descriptor: list[float]
    network: str


def _photos(facedata: Path, split: str, person: str) -> list[Path]:
    return sorted((facedata / "celeb5" / split / person).glob("*.jpg"))


@pytest.fixture(scope="module")
def library_faces(facedata: Path) -> list[LibraryFace]:
    """The largest face of the first few `train` photos of each person, described by the default network."""
    settings = Settings()
    analyzer = FaceAnalyzer(FaceFinder.from_settings(settings), Descriptors(settings))
    faces = []
    for person in (*NAMED, HIDDEN, UNNAMED):
        for path in _photos(facedata, "train", person)[:PER_PERSON]:
            found = analyzer.analyze(decode_image(path.read_bytes(), settings.max_pixels).rgb)
            largest = max(found, key=lambda f: f.box.width * f.box.height)
            assert largest.descriptor is not None
            faces.append(LibraryFace(person, largest.box, largest.descriptor.tolist(), analyzer.descriptors.label))
    return faces


@dataclass
class Library:
    people: dict[str, str]  # folder name -> person id
    images: dict[str, list[str]]  # folder name -> image ids


def _title(folder: str) -> str:
    return folder.replace("_", " ").title()


@pytest.fixture
def library(api: Api, library_faces: list[LibraryFace], facedata: Path) -> Library:
    people: dict[str, str] = {}
    images: dict[str, list[str]] = {}
    for n, face in enumerate(library_faces):
        image = api.add_image(n)
        images.setdefault(face.person, []).append(image.id)
        stored = api.add_face(image.id, face.box.left, top=face.box.top, size=face.box.width,
                              descriptor=face.descriptor, descriptor_model=face.network, quality=0.9)
        if face.person == UNNAMED:
            continue
        if face.person not in people:
            people[face.person] = api.person(_title(face.person))["id"]
        api.run(api.catalog.set_person_label, stored.id, people[face.person])
    response = api.client.patch(f"/v1/people/{people[HIDDEN]}", json={"never_tag": True})
    assert response.status_code == 200, response.text
    announce(api, [i for ids in images.values() for i in ids], _photos(facedata, "val", "madonna")[0])
    return Library(people, images)


def announce(api: Api, image_ids: list[str], probe: Path) -> None:
    """Tell the gateway these photos are done, as the classifier does once their faces are described and named;
    then wait until a search compares every face of the library with a descriptor."""
    bus: EventBus = api.client.app.state.event_bus  # type: ignore[attr-defined]
    for image_id in image_ids:
        bus.publish(Event(kind=EventKind.photo_done, image_id=image_id))
    described = api.run(_described, api.catalog)
    assert _eventually(lambda: _search(api, probe)["faces_compared"] == described), "the library was not indexed"


async def _described(catalog: Catalog) -> int:
    return len(await catalog.list_faces(FaceQuery(with_descriptor=True, limit=100_000)))


def _eventually(check: Callable[[], bool], seconds: float = INDEX_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _post(client: TestClient, path: str, files: dict[str, Path | tuple[str, bytes, str]], **kwargs: Any) -> Any:
    sent = {field: (f.name, f.read_bytes(), "image/jpeg") if isinstance(f, Path) else f for field, f in files.items()}
    return client.post(path, files=sent, **kwargs)


def _search(api: Api, photo: Path, **kwargs: Any) -> dict[str, Any]:
    response = _post(api.client, "/v1/search/face", {"file": photo}, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_named_person_is_found_first_by_a_new_photo_of_them(api: Api, library: Library, facedata: Path) -> None:
    for person in NAMED:
        photo = _photos(facedata, "val", person)[0]
        body = _search(api, photo)
        first = body["people"][0]
        assert first["name"] == _title(person), (photo.name, body["people"])
        assert first["same_person"] and first["probability"] > 0.5
        assert first["matched_faces"] >= 1 and first["faces_compared"] == PER_PERSON
        assert first["best_image_id"] in library.images[person]
        assert first["best_chip_url"] == f"/v1/faces/{first['best_face_id']}/chip"
        assert not any(p["same_person"] for p in body["people"][1:])  # the other people are not them
        assert body["photos"][0]["image_id"] in library.images[person]
        assert body["calibration"]["source"] == "library"  # 4 people have 4 labelled faces each
        assert body["query"]["faces_found"] >= 1 and body["query"]["face_used"]["index"] == 0
        assert body["faces_compared"] == len(library.images) * PER_PERSON


def test_never_tag_people_are_never_named_but_unnamed_faces_find_their_photos(api: Api, library: Library,
                                                                               facedata: Path) -> None:
    hidden = _search(api, _photos(facedata, "val", HIDDEN)[0])
    assert library.people[HIDDEN] not in {p["person_id"] for p in hidden["people"]}
    assert not any(p["same_person"] for p in hidden["people"])
    assert hidden["photos"][0]["image_id"] in library.images[HIDDEN]  # her photos are still photos

    unnamed = _search(api, _photos(facedata, "val", UNNAMED)[0], params={"limit": 3})
    assert not any(p["same_person"] for p in unnamed["people"])
    assert [p["image_id"] in library.images[UNNAMED] for p in unnamed["photos"]] == [True, True, True]
    assert unnamed["photos"][0]["same_person"] and unnamed["limit"] == 3


def test_another_face_of_a_group_photo_can_be_chosen(api: Api, library: Library, facedata: Path) -> None:
    photo = facedata / "facetag_samples" / "ben_mat_1.jpg"  # Ben Affleck and Matt Damon
    largest = _search(api, photo)
    assert largest["query"]["faces_found"] >= 2
    boxes = [f["box"] for f in largest["query"]["faces"]]
    assert [b["width"] * b["height"] for b in boxes] == sorted((b["width"] * b["height"] for b in boxes), reverse=True)
    by_face = [_search(api, photo, data={"face": str(i)}) for i in range(2)]
    assert [b["query"]["face_used"]["box"] for b in by_face] == boxes[:2]
    ben = [b for b in by_face if b["people"][0]["same_person"]]
    assert [b["people"][0]["name"] for b in ben] == ["Ben Afflek"]  # Matt Damon is nobody in the library

    missing = _post(api.client, "/v1/search/face", {"file": photo}, data={"face": "7"})
    assert missing.status_code == 422 and missing.json()["error"] == "no_such_face", missing.text
    assert "largest first" in missing.json()["message"]


def test_verify_says_same_for_one_person_and_different_for_two(api: Api, library: Library, facedata: Path) -> None:
    jerry = _photos(facedata, "val", "jerry_seinfeld")
    same = _post(api.client, "/v1/verify", {"first": jerry[0], "second": jerry[1]})
    assert same.status_code == 200, same.text
    assert same.json()["same_person"] and same.json()["probability"] > 0.5
    assert same.json()["calibration"]["source"] == "library"
    other = _post(api.client, "/v1/verify", {"first": jerry[0], "second": _photos(facedata, "val", "madonna")[0]})
    assert other.status_code == 200, other.text
    body = other.json()
    assert not body["same_person"] and body["probability"] < 0.5
    assert body["distance"] > same.json()["distance"]
    assert body["first"]["faces_found"] >= 1 and body["network"] == "sface-2021dec"


def test_names_given_between_searches_reach_the_calibration_within_seconds(api: Api, library_faces: list[LibraryFace],
                                                                          facedata: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The labels are read again in the background once the fit in hand is older than this; searches meanwhile
    # answer with the fit in hand.
    monkeypatch.setattr(face_matching, "RECHECK_SECONDS", 0.0)
    stored = []
    for n, face in enumerate(library_faces):
        image = api.add_image(n)
        stored.append((face.person, api.add_face(image.id, face.box.left, top=face.box.top, size=face.box.width,
                                                 descriptor=face.descriptor, descriptor_model=face.network,
                                                 quality=0.9)))
    announce(api, [f.image_id for _, f in stored], _photos(facedata, "val", "madonna")[0])
    madonna = _photos(facedata, "val", "madonna")[0]
    assert _search(api, madonna)["calibration"]["source"] == "celeb5"  # nobody is named yet
    people = {person: api.person(_title(person))["id"] for person in (*NAMED, HIDDEN)}
    for person, face in stored:
        if person in people:
            api.run(api.catalog.set_person_label, face.id, people[person])
    assert _eventually(lambda: _search(api, madonna)["calibration"]["source"] == "library", seconds=10), \
        "the calibration did not follow the names"


def test_without_enough_labels_the_celeb5_calibration_is_used(api: Api, facedata: Path) -> None:
    madonna = _photos(facedata, "val", "madonna")
    response = _post(api.client, "/v1/verify", {"first": madonna[0], "second": madonna[1]})
    assert response.status_code == 200, response.text
    assert response.json()["calibration"]["source"] == "celeb5" and response.json()["same_person"]
    search = _search(api, madonna[0])
    assert search["people"] == [] and search["photos"] == [] and search["calibration"]["source"] == "celeb5"


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(("files", "params", "status", "code"), [
    pytest.param({"file": "bad/nonface/dlib_dog.jpg"}, {}, 422, "no_face", id="no-face"),
    pytest.param({"file": "bad/broken/text_renamed.jpg"}, {}, 415, "not_an_image", id="not-an-image"),
    pytest.param({"file": "bad/broken/truncated_half_madonna.jpg"}, {}, 422, "truncated", id="cut-off"),
    pytest.param({"file": ("big.png", _png(8000, 8000), "image/png")}, {}, 413, "too_many_pixels",
                 id="too-many-pixels"),
    pytest.param({"file": "celeb5/val/madonna"}, {"limit": 0}, 422, "invalid", id="limit-0"),
    pytest.param({"file": "celeb5/val/madonna"}, {"limit": 101}, 422, "invalid", id="limit-101"),
    pytest.param({}, {}, 422, "invalid", id="no-file"),
])  # fmt: skip
def test_search_refuses_what_it_cannot_use(api: Api, facedata: Path, files: dict[str, Any], params: dict[str, int],
                                           status: int, code: str) -> None:
    sent = {}
    for field, f in files.items():
        path = facedata / f if isinstance(f, str) else None
        if path is not None and path.is_dir():
            path = sorted(path.glob("*.jpg"))[0]
        sent[field] = path or f
    response = _post(api.client, "/v1/search/face", sent, params=params) if sent else \
        api.client.post("/v1/search/face", data={"face": "0"})
    assert response.status_code == status, response.text
    assert response.json()["error"] == code and response.json()["message"]


def test_verify_says_which_photo_has_no_face(api: Api, facedata: Path) -> None:
    response = _post(api.client, "/v1/verify", {"first": _photos(facedata, "val", "madonna")[0],
                                                 "second": facedata / "bad/nonface/dlib_eagle.jpg"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "no_face" and response.json()["message"].startswith("Second photo: No face")
    response = _post(api.client, "/v1/verify", {"first": _photos(facedata, "val", "madonna")[0]})
    assert response.status_code == 422 and "second" in response.json()["message"], response.text


def test_a_photo_over_the_upload_limit_is_413(api: Api) -> None:
    limit = Settings().max_upload_bytes
    response = api.client.post("/v1/search/face", files={"file": ("big.jpg", b"\xff" * (limit + 1), "image/jpeg")})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize("path", ["/v1/search/face", "/v1/verify"])
def test_nobody_signed_in_is_401(api: Api, facedata: Path, path: str) -> None:
    photo = _photos(facedata, "val", "madonna")[0]
    response = _post(api.client, path, {"file": photo, "first": photo, "second": photo},
                     headers={"Authorization": ""})
    assert response.status_code == 401, response.text


# --- the gateway's face index: the same answers as a walk over the catalog, kept in step ----------------------

STRANGERS = 1500  # faces of nobody in particular, three to a photo, so that a search has a crowd to look through


def _strangers(api: Api, network: str, seed: int = 7) -> list[str]:
    """Photos of strangers, stored as the detector and classifier would store them (no events sent)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((STRANGERS, NETWORKS["sface"].dimension))
    images = [ImageRecord(id=new_id(), sha256=f"stranger-{seed}-{n}", filename=f"crowd-{n}.jpg",
                          content_type="image/jpeg", width=640, height=480, size_bytes=1000,
                          status=ImageStatus.done) for n in range(STRANGERS // 3)]
    faces = [FaceRecord(id=new_id(), image_id=images[n // 3].id, box=Box(left=10 + 100 * (n % 3), top=10, width=50,
                                                                           height=50),
                        descriptor=(v / np.linalg.norm(v)).tolist(), descriptor_model=network, quality=0.9)
             for n, v in enumerate(vectors)]
    api.run(api.catalog.add_many, images, faces)
    return [image.id for image in images]


async def _full_walk(catalog: Catalog, probe: Probe) -> tuple[Ranking, float]:
    """What a walk over every face in the catalog answers for a probe, and the threshold it used."""
    threshold = (await CalibrationCache().get(catalog, probe.network)).pair.threshold
    hidden = {p.id for p in await catalog.list_people() if p.never_tag}
    return await rank_library(catalog, probe.descriptor, probe.network, threshold, hidden), threshold


def _walk_answer(ranking: Ranking, limit: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    people = sorted(ranking.people.items(), key=lambda item: (item[1].distance, item[0]))[:limit]
    photos = sorted(ranking.photos.items(), key=lambda item: (item[1].distance, item[0]))[:limit]
    return ([(pid, round(n.distance, 4), n.matched, n.compared, n.face.id) for pid, n in people],
            [(image_id, round(n.distance, 4), n.face.id) for image_id, n in photos])


def _api_answer(body: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    return ([(p["person_id"], p["distance"], p["matched_faces"], p["faces_compared"], p["best_face_id"])
             for p in body["people"]],
            [(p["image_id"], p["distance"], p["face_id"]) for p in body["photos"]])


@pytest.mark.parametrize(("exact_up_to", "people_directly_after"), [
    pytest.param(face_index.EXACT_UP_TO, PEOPLE_DIRECTLY_AFTER, id="full-comparison"),
    pytest.param(0, PEOPLE_DIRECTLY_AFTER, id="graph"),
    pytest.param(0, 16, id="graph-then-people-directly"),
])  # fmt: skip
def test_search_answers_as_a_walk_over_every_face_would(api: Api, library: Library, facedata: Path,
                                                       monkeypatch: pytest.MonkeyPatch, exact_up_to: int,
                                                       people_directly_after: int, catalog_url: str) -> None:
    if catalog_url.startswith("mongodb") and (exact_up_to, people_directly_after) != (0, PEOPLE_DIRECTLY_AFTER):
        pytest.skip("the index's paths do not depend on the catalog: on MongoDB the graph path alone (two minutes "
                    "each on FerretDB)")
    # The library is small: these make it take the paths a big one takes (the graph; asking again for more; people
    # ranked over their own faces when the nearest faces hold too few of them).
    monkeypatch.setattr(face_index, "EXACT_UP_TO", exact_up_to)
    monkeypatch.setattr(face_index, "FIRST_ASK", 4)
    monkeypatch.setattr(face_index, "PEOPLE_DIRECTLY_AFTER", people_directly_after)
    announce(api, _strangers(api, "sface-2021dec"), _photos(facedata, "val", "madonna")[0])
    probe_of = api.client.app.state.face_probe  # type: ignore[attr-defined]
    searched = 0
    for person in (*NAMED, HIDDEN, UNNAMED):
        for photo in _photos(facedata, "val", person)[:2]:
            probe = api.run(probe_of.probe, photo.read_bytes(), None)
            walk, threshold = api.run(_full_walk, api.catalog, probe)  # reads every face: once per photo
            for limit in (2, 20):
                body = _search(api, photo, params={"limit": limit})
                assert round(threshold, 4) == body["photo_calibration"]["threshold"]
                got, expected = _api_answer(body), _walk_answer(walk, 10**6)
                if exact_up_to:  # a full comparison: the walk's answer exactly
                    assert got == _walk_answer(walk, limit), (person, photo.name, limit)
                else:  # the graph is approximate: what it answers is the walk's, the nearest are all there
                    for answered, walked in zip(got, expected, strict=True):
                        assert set(answered) <= set(walked), (person, photo.name, limit)
                        assert answered[:1] == walked[:1]
                        assert len(set(answered) & set(walked[:limit])) >= 0.9 * min(limit, len(walked))
                assert (body["faces_compared"], body["faces_skipped_other_network"]) == (walk.compared, walk.skipped)
                searched += 1
    assert searched == 20


def test_a_face_added_or_deleted_is_searched_or_not_within_seconds(api: Api, library: Library,
                                                                   library_faces: list[LibraryFace],
                                                                   facedata: Path) -> None:
    madonna = _photos(facedata, "val", "madonna")[0]
    before = _search(api, madonna)
    # A new photo of Madonna, described and named by a model; the classifier's event is lost: the catch-up finds it.
    image = api.add_image(100)
    face = next(f for f in library_faces if f.person == "madonna")
    added = api.add_face(image.id, face.box.left, top=face.box.top, size=face.box.width, descriptor=face.descriptor,
                         descriptor_model=face.network, quality=0.9)
    api.model_label(added.id, library.people["madonna"])
    assert _eventually(lambda: image.id in [p["image_id"] for p in _search(api, madonna)["photos"]])
    after = _search(api, madonna)
    assert after["faces_compared"] == before["faces_compared"] + 1
    assert after["people"][0]["faces_compared"] == before["people"][0]["faces_compared"] + 1

    # Deleted through this gateway: gone from the next search.
    assert api.client.delete(f"/v1/faces/{added.id}").status_code == 204
    gone = _search(api, madonna)
    assert image.id not in [p["image_id"] for p in gone["photos"]]
    assert gone["faces_compared"] == before["faces_compared"] and gone["people"] == before["people"]

    # Deleted elsewhere (another gateway replica): never answered, and forgotten once met.
    first = gone["photos"][0]["image_id"]
    api.run(api.catalog.delete_image, first)
    elsewhere = _search(api, madonna)
    assert first not in [p["image_id"] for p in elsewhere["photos"]]
    assert elsewhere["faces_compared"] == before["faces_compared"] - 1  # its one face


def test_a_restarted_gateway_builds_its_index_from_the_catalog(api: Api, library: Library, facedata: Path) -> None:
    photo = _photos(facedata, "val", "jerry_seinfeld")[0]
    before = _search(api, photo)
    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    restarted = gateway_app.create_app(settings)
    with TestClient(restarted, base_url="http://localhost", headers=dict(api.client.headers)) as client:
        again = Api(client)
        assert _eventually(lambda: again.client.app.state.face_index.index is not None)  # type: ignore[attr-defined]
        after = _search(again, photo)
    assert after["people"] == before["people"] and after["photos"] == before["photos"]
    assert after["faces_compared"] == before["faces_compared"] == len(library.images) * PER_PERSON
