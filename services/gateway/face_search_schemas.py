"""What searching by a face and verifying two faces answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.core.domain import Box


class QueryFaceOut(BaseModel):
    index: int = Field(description="Its number among the faces found, largest first (0 is the largest).")
    box: Box = Field(description="Where it is, in the photo's upright pixels.")
    detection_score: float
    quality: float = Field(description="How usable the face is, 0 to 1 (size, sharpness, pose).")


class ProbeOut(BaseModel):
    faces_found: int = Field(description="How many faces were found in the photo.")
    face_used: QueryFaceOut = Field(description="The face that was compared.")
    faces: list[QueryFaceOut] = Field(description="Every face found, largest first; send `face` to use another.")


class CalibrationOut(BaseModel):
    source: Literal["library", "celeb5"] = Field(
        description="`library`: fitted on this library's person-labelled faces (at least 2 people with 3 faces "
                    "each), again whenever those labels change; `celeb5`: measured once on a public set of 5 "
                    "people, used until the library has enough labels.")
    kind: Literal["pair", "nearest"] = Field(
        description="`pair`: for the distance between two faces (verify); `nearest`: for the distance to a "
                    "person's nearest face among all of theirs (search).")
    samples: int = Field(description="Same-person plus different-person distances it was fitted on.")
    threshold: float = Field(description="The distance at which the probability is 0.5; nearer counts as the "
                                         "same person.")


class PersonMatchOut(BaseModel):
    person_id: str
    name: str
    distance: float = Field(description="Distance from the query to this person's nearest face (smaller is "
                                         "nearer).")
    probability: float = Field(ge=0, le=1, description="Calibrated probability that the query shows this "
                                                       "person, from the distance to their nearest face, at even "
                                                       "prior odds.")
    same_person: bool = Field(description="probability >= 0.5.")
    matched_faces: int = Field(description="How many of their faces match the query face to face (as verify would "
                                           "judge each pair).")
    faces_compared: int = Field(description="How many of their faces were compared.")
    best_face_id: str
    best_image_id: str
    best_chip_url: str | None
    photos_url: str = Field(description="Their photos in the gallery API.")


class PhotoMatchOut(BaseModel):
    image_id: str
    distance: float = Field(description="Distance from the query to the nearest face in this photo.")
    probability: float = Field(ge=0, le=1, description="Calibrated probability that the nearest face in it is the "
                                                       "same person as the query, at even prior odds.")
    same_person: bool = Field(description="probability >= 0.5.")
    face_id: str = Field(description="The nearest face in it (named or not).")
    chip_url: str | None
    image_url: str
    thumbnail_url: str


class FaceSearchOut(BaseModel):
    query: ProbeOut
    network: str = Field(description="The descriptor network compared with; faces described by another are "
                                     "skipped.")
    calibration: CalibrationOut = Field(description="How people's probabilities are calibrated (`nearest`).")
    photo_calibration: CalibrationOut = Field(description="How photos' probabilities and each person's "
                                                          "`matched_faces` are judged (`pair`, face to face).")
    faces_compared: int
    faces_skipped_other_network: int
    people: list[PersonMatchOut] = Field(description="Named people, nearest first; people marked never_tag are "
                                                     "never listed.")
    photos: list[PhotoMatchOut] = Field(description="Photos, nearest face first; unnamed faces count too.")
    limit: int


class VerifyOut(BaseModel):
    first: ProbeOut
    second: ProbeOut
    network: str
    distance: float = Field(description="Distance between the largest face of each photo.")
    probability: float = Field(ge=0, le=1, description="Calibrated probability that both show one person, at even "
                                                       "prior odds.")
    same_person: bool = Field(description="probability >= 0.5.")
    calibration: CalibrationOut
