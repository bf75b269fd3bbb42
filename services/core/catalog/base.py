"""The catalog: images, faces, people and jobs. Two implementations (SQLite, MongoDB) pass one contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.core.catalog.rules import PersonPair
from services.core.cursors import FaceKey, InvalidCursor, NewestKey, OldestKey, ReviewKey
from services.core.domain import (
    Action,
    FaceLabelState,
    FaceRecord,
    ImageQuery,
    ImageRecord,
    ImageStatus,
    Job,
    JobState,
    LabelVia,
    Page,
    PeopleQuery,
    Person,
    PersonDetails,
    PersonSummary,
    Point,
    ReviewHint,
)


class FaceQuery(BaseModel):
    """Filters for listing faces across images; every filter given must hold (AND)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt filter is an error, not a filter quietly left out

    image_id: str | None = None
    image_ids: list[str] | None = None  # faces of any of these images (a gallery page's photos, in one query)
    person_id: str | None = None
    unknown_only: bool = False  # person_id is None
    label_source: str | None = None  # "person" or "model"
    with_descriptor: bool = False
    # False: faces come without their descriptors (None). A page shown to people needs none of them, and
    # reading 128 numbers a face was most of a gallery page's cost. Never write such a face back.
    load_descriptor: bool = True
    # Faces labelled at or after this time, oldest label first (ties by id): what changed since a last look is
    # read through the label-time index, however big the library.
    labelled_since: datetime | None = None
    # Faces a model labelled (or left unknown) whose answer would teach it most, most worth asking first.
    to_review: bool = False
    with_not_person: bool = False  # faces a person said are not someone (not_person_ids not empty)
    # Keyset: the page starts after this face, in the list's order (see ``order``).
    after: FaceKey | ReviewKey | OldestKey | None = None
    limit: int = Field(1000, ge=1, le=100_000)

    @property
    def order(self) -> type[FaceKey | ReviewKey | OldestKey]:
        """The list's order, named by the key of its cursor: review score, label time, or photo then left to
        right (the default)."""
        if self.to_review:
            return ReviewKey
        return FaceKey if self.labelled_since is None else OldestKey

    @model_validator(mode="after")
    def _key_fits_order(self) -> FaceQuery:
        if self.after is not None and type(self.after) is not self.order:
            raise InvalidCursor("query 'cursor': a cursor from another list; start again without one")
        return self

    def face_key(self, face: FaceRecord) -> FaceKey | ReviewKey | OldestKey:
        """Where ``face`` stands in this query's order."""
        if self.order is ReviewKey:
            return ReviewKey(score=face.review.score if face.review else 0.0, id=face.id)
        if self.order is OldestKey:
            assert face.labelled_at is not None  # the filter holds only for labelled faces
            return OldestKey(at=face.labelled_at, id=face.id)
        return FaceKey(image_id=face.image_id, left=face.box.left, id=face.id)

    def after_face(self, face: FaceRecord) -> FaceQuery:
        """The same query for the page after ``face``."""
        return self.model_copy(update={"after": self.face_key(face)})


class Catalog(ABC):
    """Async catalog interface. Every write is idempotent when repeated with the same ids.

    Ordering rules every implementation keeps: images newest upload first, ties by id descending;
    faces by image then left-to-right (box.left, then id); people by name, case-insensitively.
    Raises ``services.core.errors.NotFound`` for unknown ids where a method says so and
    ``Conflict`` for a person name that is taken (names compare case-insensitively).
    """

    # lifecycle
    @abstractmethod
    async def connect(self) -> None:
        """Open connections and create tables/indexes if missing."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable if the store does not answer."""

    # images
    @abstractmethod
    async def add_image(self, image: ImageRecord) -> tuple[ImageRecord, bool]:
        """Insert; if an image with the same sha256 exists return (that image, False)."""

    @abstractmethod
    async def get_image(self, image_id: str) -> ImageRecord | None: ...

    @abstractmethod
    async def images_by_sha256(self, digests: list[str]) -> list[ImageRecord]:
        """The images whose bytes have one of these sha256 digests (lowercase hex), in no set order; one query
        (a client resuming an import asks which of its files are here already)."""

    @abstractmethod
    async def set_image_status(
        self, image_id: str, status: ImageStatus, error: str | None = None, *, count_attempt: bool = False
    ) -> None:
        """Set status (and error, cleared when None); bump updated_at; attempts+1 if count_attempt.
        NotFound if absent."""

    @abstractmethod
    async def list_images(self, query: ImageQuery) -> Page[ImageRecord]:
        """One page in image order after ``query.after``; ``next_cursor`` holds an ImageKey."""

    @abstractmethod
    async def image_counts(self) -> dict[ImageStatus, int]:
        """How many images are in each status, without counting the library on each call."""

    @abstractmethod
    async def stalled_images(self, updated_before: datetime) -> list[ImageRecord]:
        """Images in queued/detecting/classifying whose updated_at is older than the given time, oldest first."""

    @abstractmethod
    async def add_many(self, images: list[ImageRecord], faces: list[FaceRecord]) -> None:
        """Insert new images and their faces in bulk (filling a big library fast): afterwards every read answers
        as if each image were added and then each of its faces, labels included. Each image's face_count comes from
        ``faces``. For records known to be new: every id and sha256 must be unused, every face's image among
        ``images`` and its person stored; unlike add_image and add_face, this is not checked."""

    @abstractmethod
    async def delete_image(self, image_id: str) -> bool:
        """Delete the image and all its faces; False if it did not exist."""

    # faces
    @abstractmethod
    async def replace_detected_faces(self, image_id: str, faces: list[FaceRecord]) -> list[FaceRecord]:
        """Store a fresh detection result for an image, idempotently.

        Faces that a person labelled and manual faces are kept; a new detection overlapping a kept
        face (IoU >= 0.5) is dropped; all other earlier detector faces are replaced by ``faces``.
        Updates the image's face_count. Returns all faces of the image in face order.
        NotFound if the image is absent; InvalidInput for a face of another image.
        """

    @abstractmethod
    async def add_face(self, face: FaceRecord) -> FaceRecord:
        """Insert or replace one face by id (manual boxes); updates the image's face_count.
        NotFound if its image or its person is absent."""

    @abstractmethod
    async def get_face(self, face_id: str) -> FaceRecord | None: ...

    @abstractmethod
    async def list_faces(self, query: FaceQuery) -> list[FaceRecord]:
        """Up to ``limit`` faces in the query's order (``FaceQuery.order``) after ``query.after``."""

    async def walk_faces(self, query: FaceQuery, page_size: int) -> AsyncIterator[FaceRecord]:
        """Every face the query matches, in its order, ``page_size`` at a time. Keyset pages: each starts after
        the last face seen, so a page costs the same at any depth and faces added or removed meanwhile never make
        one be seen twice."""
        query = query.model_copy(update={"limit": page_size})
        while True:
            page = await self.list_faces(query)
            for face in page:
                yield face
            if len(page) < page_size:
                return
            query = query.after_face(page[-1])

    @abstractmethod
    async def set_face_analysis(self, face_id: str, descriptor: list[float], chip_key: str,
                                descriptor_model: str | None = None, *, quality: float | None = None,
                                landmarks: list[Point] | None = None) -> None:
        """Store a face's descriptor, chip blob key and the network that made the descriptor; also its quality
        and landmarks when given (else they stay). Labels are never touched. NotFound if absent."""

    @abstractmethod
    async def set_model_label(self, face_id: str, person_id: str | None, model_version: str, confidence: float,
                              review: ReviewHint | None = None) -> bool:
        """Label by a model, with why a person might be asked about it (``review``); a no-op returning False when a
        person labelled the face. NotFound if absent.
        A person_id that no longer exists (deleted since the model was trained), that is marked never_tag,
        or that a person said this face is not (``not_person_ids``) is stored as unknown."""

    @abstractmethod
    async def set_person_label(self, face_id: str, person_id: str | None, *, by: str | None = None,
                               via: LabelVia | None = None) -> FaceRecord:
        """Label by a person (None = a person says unknown), recording who (``by``) and where (``via``); the face
        leaves the review queue. Naming a face X takes X off its ``not_person_ids``. NotFound for an unknown face
        or person."""

    @abstractmethod
    async def add_not_person(self, face_id: str, person_id: str, *, by: str | None = None,
                             via: LabelVia | None = None) -> FaceRecord:
        """A person says this face is not ``person_id``: remembered in ``not_person_ids``; if the face is
        labelled that person (by anyone), it becomes unknown and unlabelled, so a model may name it someone
        else. NotFound for an unknown face or person."""

    @abstractmethod
    async def restore_face_labels(self, states: list[FaceLabelState]) -> int:
        """Put faces' identity fields back exactly as given (undo); faces deleted since are skipped.
        Returns how many faces were restored."""

    @abstractmethod
    async def delete_face(self, face_id: str) -> bool:
        """Delete; updates the image's face_count; False if it did not exist."""

    # people
    @abstractmethod
    async def create_person(self, name: str) -> Person:
        """Conflict if the name is taken (case-insensitive). Names are stored trimmed of surrounding
        whitespace; an empty name is InvalidInput (also for rename_person)."""

    @abstractmethod
    async def get_person(self, person_id: str) -> Person | None: ...

    @abstractmethod
    async def get_people(self, person_ids: list[str]) -> list[Person]:
        """The people with these ids that exist, in one query (any order)."""

    @abstractmethod
    async def find_person(self, name: str) -> Person | None:
        """Exact name, case-insensitive; plain text, never a pattern."""

    @abstractmethod
    async def people_page(self, query: PeopleQuery) -> Page[PersonSummary]:
        """People by name (a page after ``query.after``, or everyone) with face count, image count and a cover
        face: the chosen cover while it is theirs, else the person-labelled face with the smallest id, else their
        face with the smallest id, else None. Counts come from one indexed aggregate over the page's people."""

    async def list_people(self) -> list[PersonSummary]:
        """Everyone with their counts, as ``people_page`` describes (reads every labelled face: for listing
        the counts; ``all_people`` when only who exists matters)."""
        return (await self.people_page(PeopleQuery())).items

    @abstractmethod
    async def all_people(self) -> list[Person]:
        """Everyone by name, without counts: one read of the people, whatever the library's size."""

    @abstractmethod
    async def rename_person(self, person_id: str, name: str) -> Person:
        """NotFound / Conflict as usual; renaming to the same name in another case is allowed."""

    @abstractmethod
    async def set_never_tag(self, person_id: str, never_tag: bool) -> Person:
        """Mark (or unmark) a person whom no model may name; existing model labels of them become unknown.
        Human labels stay. NotFound if absent."""

    @abstractmethod
    async def set_person_details(self, person_id: str, details: PersonDetails) -> Person:
        """Replace the person's details (cover, hidden, active dates). NotFound if absent."""

    @abstractmethod
    async def delete_person(self, person_id: str) -> bool:
        """Delete; their faces become unknown with no label source. False if absent."""

    @abstractmethod
    async def restore_person(self, person: Person) -> Person:
        """Create the person again with the same id, name and details (undoing a delete or merge); an existing
        person with that id is updated to match. Conflict if another person has taken the name meanwhile."""

    @abstractmethod
    async def merge_people(self, source_id: str, target_id: str) -> Person:
        """Move every face of source to target, keeping label sources, and turn "not source" into "not target";
        delete source. NotFound if either is absent; merging a person into itself is a Conflict."""

    @abstractmethod
    async def mark_not_same(self, first_id: str, second_id: str) -> PersonPair:
        """Remember that two people are not one (never offered for merging again); idempotent. Ids only: a pair
        whose person is gone is simply never shown. InvalidInput for the same id twice."""

    @abstractmethod
    async def not_same_pairs(self) -> set[PersonPair]:
        """Every pair remembered as not the same person, the smaller id first."""

    @abstractmethod
    async def erase_person_traces(self, person_id: str, face_ids: set[str]) -> list[str]:
        """For erasure: drop every undoable action that mentions the person or these faces (they hold names and
        labels), "not them" answers on other faces and "not the same" pairs with them. Returns the ids of the
        actions that went (their audit entries name the person too)."""

    # undoable actions
    @abstractmethod
    async def add_action(self, action: Action) -> Action: ...

    @abstractmethod
    async def get_action(self, action_id: str) -> Action | None: ...

    @abstractmethod
    async def list_actions(self, actor: str | None, limit: int, after: NewestKey | None = None) -> list[Action]:
        """The newest actions first (after ``after``), of one actor or of everyone (None)."""

    @abstractmethod
    async def mark_action_undone(self, action_id: str) -> bool:
        """Set undone_at once: True for the caller that did it, False if it was undone already or is absent."""

    # jobs
    @abstractmethod
    async def create_job(self, job: Job) -> Job: ...

    @abstractmethod
    async def get_job(self, job_id: str) -> Job | None: ...

    @abstractmethod
    async def list_jobs(self) -> list[Job]:
        """Every job, oldest first."""

    @abstractmethod
    async def update_job(
        self,
        job_id: str,
        *,
        state: JobState | None = None,
        progress: float | None = None,
        message: str | None = None,
        result: dict[str, object] | None = None,
    ) -> Job:
        """Update the given fields and updated_at. NotFound if absent."""
