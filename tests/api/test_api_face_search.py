"""Search by face and verification: real photos, the real face networks in the gateway, real descriptors
in the catalog (made by the same networks from celeb5 `train` photos, as the workers would make them)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_client import Api
from fastapi.testclient import TestClient
from PIL import Image

from services.core.domain import Box
from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.faces.decode import decode_image
from services.core.settings import Settings

NAMED = ("ben_afflek", "madonna", "jerry_seinfeld")  # named in the library
HIDDEN = "mindy_kaling"  # named, then marked never_tag
UNNAMED = "elton_john"  # in the library, nobody named him
PER_PERSON = 4


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
def library(api: Api, library_faces: list[LibraryFace]) -> Library:
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
    return Library(people, images)


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
