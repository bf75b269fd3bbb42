"""Find a person by a photo, and tell whether two photos show the same person."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from services.core.faces.decode import ImageDecodeError
from services.core.faces.model_files import ModelFileError
from services.core.verification import Calibration
from services.gateway.deps import SettingsDep, StoresDep
from services.gateway.errors import ApiError
from services.gateway.face_index_live import LiveFaceIndex
from services.gateway.face_matching import CalibrationCache, Nearest, rank_library
from services.gateway.face_probe import FaceIndexOutOfRange, FaceProbe, NoFace, Probe
from services.gateway.face_search_schemas import (
    CalibrationOut,
    FaceSearchOut,
    PersonMatchOut,
    PhotoMatchOut,
    ProbeOut,
    QueryFaceOut,
    VerifyOut,
)
from services.gateway.responses import error, errors
from services.gateway.routes.images import read_limited
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1", tags=["search"])
MAX_RESULTS = 100
PHOTO_ERRORS = {**errors(400, 413, 415),
                422: error(422, "No face was found in a photo, the face asked for is not there, the file is an "
                                "image that cannot be used (too small, one flat colour, cut off or damaged), or "
                                "a form field is missing or out of range; the message says which.")}


def _probe(request: Request) -> FaceProbe:
    """The gateway's face probe, made on first use: the networks load only when someone searches."""
    state = request.app.state
    probe: FaceProbe | None = getattr(state, "face_probe", None)
    if probe is None:
        probe = state.face_probe = FaceProbe(state.settings, state.stores.blobs)
    return probe


def _calibrations(request: Request) -> CalibrationCache:
    state = request.app.state
    cache: CalibrationCache | None = getattr(state, "face_calibrations", None)
    if cache is None:
        cache = state.face_calibrations = CalibrationCache()
    return cache


async def _look(request: Request, data: bytes, face: int | None = None, which: str = "") -> Probe:
    """The faces of one photo and the descriptor of the chosen one; ``which`` names the photo in errors."""
    try:
        return await _probe(request).probe(data, face)
    except ImageDecodeError as exc:
        raise ImageDecodeError(exc.reason, f"{which}{exc}", exc.status_code) from None
    except (NoFace, FaceIndexOutOfRange) as exc:
        raise ApiError(422, f"{which}{exc}", "no_face" if isinstance(exc, NoFace) else "no_such_face") from None
    except ModelFileError as exc:  # an installation without the face models: nothing the client can change
        raise ApiError(503, f"Face search is not available on this gateway: {exc}") from None


def _probe_out(probe: Probe) -> ProbeOut:
    faces = [QueryFaceOut(index=f.index, box=f.box, detection_score=f.detection_score, quality=f.quality)
             for f in probe.faces]
    return ProbeOut(faces_found=len(faces), face_used=faces[probe.chosen], faces=faces)


def _calibration_out(calibration: Calibration) -> CalibrationOut:
    return CalibrationOut(source=calibration.source, kind=calibration.kind, samples=calibration.samples,
                          threshold=round(calibration.threshold, 4))


def _chip_url(near: Nearest) -> str | None:
    return f"/v1/faces/{near.face.id}/chip" if near.face.chip_key else None


@router.post(
    "/search/face",
    response_model=FaceSearchOut,
    responses=PHOTO_ERRORS,
    summary="Find the people and photos that match a face in a photo",
    description="The photo's largest face (or the one numbered `face`, largest first) is compared with every "
                "face in the library described by the same network. People come nearest first, each by their "
                "nearest face; photos likewise, unnamed faces included. Probabilities are calibrated (see "
                "`calibration`). At most `limit` of each.",
    dependencies=[allow(Policy.read)],
)
async def search_face(
    request: Request,
    stores: StoresDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="A photo: JPEG, PNG, WebP, BMP, TIFF or GIF.")],
    face: Annotated[int | None, Form(ge=0, le=999, description="Which face to search with, numbered largest "
                                                               "first; the largest if left out.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="At most this many people and photos.")] = 20,
) -> FaceSearchOut:
    probe = await _look(request, await read_limited(file, settings.max_upload_bytes), face)
    calibrations = await _calibrations(request).get(stores.catalog, probe.network)
    people = {p.id: p for p in await stores.catalog.all_people()}  # names only: no counts
    hidden = {pid for pid, p in people.items() if p.never_tag}
    index: LiveFaceIndex = request.app.state.face_index
    threshold = calibrations.pair.threshold
    ranking = await index.rank(probe.descriptor, probe.network, threshold, hidden, limit) or \
        await rank_library(stores.catalog, probe.descriptor, probe.network, threshold, hidden)  # index not built yet

    found_people = []
    for pid, near in sorted(ranking.people.items(), key=lambda item: (item[1].distance, item[0])):
        person = people.get(pid)
        if person is None:  # deleted while we looked
            continue
        p = round(calibrations.nearest.probability(near.distance), 4)
        found_people.append(PersonMatchOut(
            person_id=pid, name=person.name, distance=round(near.distance, 4), probability=p, same_person=p >= 0.5,
            matched_faces=near.matched, faces_compared=near.compared, best_face_id=near.face.id,
            best_image_id=near.face.image_id, best_chip_url=_chip_url(near),
            photos_url=f"/v1/images?person={quote(person.name, safe='')}"))
        if len(found_people) == limit:
            break
    photos = []
    for image_id, near in sorted(ranking.photos.items(), key=lambda item: (item[1].distance, item[0]))[:limit]:
        p = round(calibrations.pair.probability(near.distance), 4)
        photos.append(PhotoMatchOut(
            image_id=image_id, distance=round(near.distance, 4), probability=p, same_person=p >= 0.5,
            face_id=near.face.id, chip_url=_chip_url(near), image_url=f"/v1/images/{image_id}",
            thumbnail_url=f"/v1/images/{image_id}/thumbnail"))
    # A search by face is a biometric look-up: who ran one is on the record (counts only, no one's id).
    await audit(request, "face.search", after={"faces_found": len(probe.faces), "face_used": probe.chosen,
                                               "people_matched": sum(p.same_person for p in found_people)})
    return FaceSearchOut(query=_probe_out(probe), network=probe.network,
                         calibration=_calibration_out(calibrations.nearest),
                         photo_calibration=_calibration_out(calibrations.pair),
                         faces_compared=ranking.compared, faces_skipped_other_network=ranking.skipped,
                         people=found_people, photos=photos, limit=limit)


@router.post(
    "/verify",
    response_model=VerifyOut,
    responses=PHOTO_ERRORS,
    summary="Do two photos show the same person?",
    description="Compares the largest face of each photo. The probability is calibrated on this library's "
                "person-labelled faces when it has enough (at least 2 people with 3 faces each), else on a public "
                "set of 5 people; `calibration` says which. Both photos together must fit in the upload limit.",
    dependencies=[allow(Policy.read)],
)
async def verify(
    request: Request,
    stores: StoresDep,
    settings: SettingsDep,
    first: Annotated[UploadFile, File(description="The first photo.")],
    second: Annotated[UploadFile, File(description="The second photo.")],
) -> VerifyOut:
    first_data = await read_limited(first, settings.max_upload_bytes)
    second_data = await read_limited(second, settings.max_upload_bytes)
    one = await _look(request, first_data, which="First photo: ")
    two = await _look(request, second_data, which="Second photo: ")
    if one.network != two.network:  # the library switched networks between the two: describe it again
        one = await _look(request, first_data, which="First photo: ")
    calibration = (await _calibrations(request).get(stores.catalog, one.network)).pair
    distance = float(((one.descriptor - two.descriptor) ** 2).sum() ** 0.5)
    probability = round(calibration.probability(distance), 4)
    await audit(request, "face.verify", after={"same_person": probability >= 0.5})
    return VerifyOut(first=_probe_out(one), second=_probe_out(two), network=one.network,
                     distance=round(distance, 4), probability=probability, same_person=probability >= 0.5,
                     calibration=_calibration_out(calibration))
