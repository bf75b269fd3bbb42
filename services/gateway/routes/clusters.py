"""Who is this? Clusters of unnamed faces, largest first; naming a whole cluster as one undoable action."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Self

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.core.domain import FaceRecord, LabelSource, LabelVia
from services.core.errors import Conflict, NotFound
from services.core.stores import Stores
from services.gateway.clusters import Cluster, ClusterIndex, ClusterView
from services.gateway.deps import SettingsDep, StoresDep
from services.gateway.inputs import Omittable, StrictBody
from services.gateway.paging import Cursor, Paged, rank_page
from services.gateway.people_schemas import PersonName
from services.gateway.presenters import PeopleCache
from services.gateway.responses import errors
from services.gateway.routes.people import resolve_person
from services.gateway.security.policy import Policy, allow
from services.gateway.undo import ActionOut, ActionRecorder, actor_of, faces_phrase

router = APIRouter(prefix="/v1/clusters", tags=["clusters"])
READ, EDIT = [allow(Policy.read)], [allow(Policy.edit)]
MAX_EXCLUDED = 10_000
READ_CONCURRENCY = 16


class ClusterFaceOut(BaseModel):
    face_id: str
    chip_url: str = Field(description="GET this for the face's aligned chip.")
    image_id: str


class SuggestionOut(BaseModel):
    """The cluster's centre is near this person's named faces: "Is this X?"."""

    person_id: str
    name: str
    distance: float = Field(description="From the cluster's centre to the person's, in the descriptor network's "
                                        "scale (smaller is nearer).")


class ClusterOut(BaseModel):
    id: str = Field(description="Stable while the cluster grows: the id of its oldest face.")
    size: int
    samples: list[ClusterFaceOut] = Field(description="Its most central faces first.")
    suggestion: SuggestionOut | None
    faces_url: str


class ClusterListOut(Paged):
    items: list[ClusterOut]
    total: int = Field(description="Clusters in all.")
    clustered_faces: int = Field(description="Unnamed faces in some cluster.")
    unclustered_faces: int = Field(description="Unnamed faces like no other (yet): name them one by one.")
    stale: bool = Field(description="True while the clusters are being worked out again in the background: "
                                    "these are the last ones, kept up with new faces as well as can be.")
    computed_at: datetime | None


class ClusterFacesOut(Paged):
    id: str
    size: int
    items: list[ClusterFaceOut]


class ClusterNameIn(StrictBody):
    """Who the cluster is (an existing person_id or a name, created if new), and faces to pull out first."""

    # Exactly one of person_id and name, as JSON Schema says it (the validator below enforces the same).
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["person_id"]}, {"required": ["name"]}]})

    person_id: Omittable[str] = Field(None, description="Name the faces as this existing person.")
    name: Omittable[PersonName] = Field(None, description="Name the faces; the person is created if nobody has "
                                                          "this name yet (case-insensitively).")
    exclude_face_ids: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=MAX_EXCLUDED,
        description="Faces of the cluster that are someone else: left unnamed. Ids not in the cluster are ignored.")

    @model_validator(mode="after")
    def _one_person(self) -> Self:
        if (self.person_id is None) == (self.name is None):
            raise ValueError("give exactly one of person_id or name")
        return self


class ClusterNamedOut(BaseModel):
    person_id: str
    name: str
    named: int = Field(description="Faces named.")
    excluded: list[str] = Field(description="Faces pulled out and left unnamed.")
    skipped: list[str] = Field(description="Faces left as they are: named by someone meanwhile, or said not to "
                                           "be this person.")
    action: ActionOut = Field(description="Undo it all with a POST to action.undo_url.")


def index_of(request: Request, settings: SettingsDep) -> ClusterIndex:
    """The process's cluster index, made on first use."""
    state = request.app.state
    index: ClusterIndex | None = getattr(state, "clusters", None)
    if index is None:
        index = state.clusters = ClusterIndex(settings)
    return index


def faces_out(face_ids: list[str], view: ClusterView) -> list[ClusterFaceOut]:
    return [ClusterFaceOut(face_id=f, chip_url=f"/v1/faces/{f}/chip", image_id=face.image_id)
            for f in face_ids if (face := view.faces.get(f)) is not None]


def cluster_or_404(view: ClusterView, cluster_id: str) -> Cluster:
    for cluster in view.clusters:
        if cluster.id == cluster_id:
            return cluster
    raise NotFound(f"No cluster with id {cluster_id!r} (it may have been named, or worked out again: "
                   "list the clusters again).")


@router.get("", response_model=ClusterListOut, dependencies=READ,
            summary="Clusters of unnamed faces that look alike, largest first, with sample faces",
            description="Only good-quality faces nobody has named. `suggestion` is set when a cluster looks "
                        "like someone already named (\"Is this X?\").")
async def list_clusters(
    request: Request,
    stores: StoresDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Clusters to return.")] = 20,
    samples: Annotated[int, Query(ge=1, le=50, description="Sample faces per cluster.")] = 8,
    cursor: Cursor = None,
) -> ClusterListOut:
    view = await index_of(request, settings).view(stores)
    people = PeopleCache(stores.catalog)
    items = []
    shown, next_cursor = rank_page(view.clusters, cursor, limit, lambda cluster: cluster.id)
    for cluster in shown:
        suggestion = None
        found = view.suggestions.get(cluster.id)
        if found is not None and (ref := await people.ref(found.person_id)) is not None:
            suggestion = SuggestionOut(person_id=ref.id, name=ref.name, distance=found.distance)
        items.append(ClusterOut(id=cluster.id, size=len(cluster.members),
                                samples=faces_out(cluster.ordered()[:samples], view),
                                suggestion=suggestion, faces_url=f"/v1/clusters/{cluster.id}/faces"))
    clustered = sum(len(c.members) for c in view.clusters)
    return ClusterListOut(items=items, next_cursor=next_cursor, total=len(view.clusters), clustered_faces=clustered,
                          unclustered_faces=view.unclustered, stale=view.stale, computed_at=view.made_at)


@router.get("/{cluster_id}/faces", response_model=ClusterFacesOut, dependencies=READ,
            summary="Every face of a cluster, most central first")
async def cluster_faces(
    cluster_id: str,
    request: Request,
    stores: StoresDep,
    settings: SettingsDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ClusterFacesOut:
    view = await index_of(request, settings).view(stores)
    cluster = cluster_or_404(view, cluster_id)
    ordered = cluster.ordered()
    shown, next_cursor = rank_page(ordered, cursor, limit, str)
    return ClusterFacesOut(id=cluster.id, size=len(ordered), items=faces_out(shown, view), next_cursor=next_cursor)


async def _current(stores: Stores, face_ids: list[str]) -> list[FaceRecord]:
    limit = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(face_id: str) -> FaceRecord | None:
        async with limit:
            return await stores.catalog.get_face(face_id)

    return [f for f in await asyncio.gather(*(one(f) for f in face_ids)) if f is not None]


@router.post("/{cluster_id}/name", response_model=ClusterNamedOut, responses=errors(409), dependencies=EDIT,
             summary="Name every face of a cluster at once (but those pulled out), as one undoable action",
             description="409 when no face is left to name. Faces named by someone since the cluster was shown, "
                         "or said not to be this person, are skipped and listed.")
async def name_cluster(cluster_id: str, body: ClusterNameIn, request: Request, stores: StoresDep,
                       settings: SettingsDep) -> ClusterNamedOut:
    index = index_of(request, settings)
    view = await index.view(stores)
    cluster = cluster_or_404(view, cluster_id)
    catalog = stores.catalog
    excluded_set = set(body.exclude_face_ids) & cluster.members.keys()
    chosen = [f for f in cluster.ordered() if f not in excluded_set]
    if not chosen:
        raise Conflict("Every face of this cluster is pulled out: there is nothing left to name.")
    # Only faces still unnamed (read again: someone may have named some since) are named, checked before a new
    # person is made, so a refusal leaves nobody behind.
    faces = [f for f in await _current(stores, chosen) if f.person_id is None and f.label_source != LabelSource.person]
    if not faces:
        raise Conflict("Every face of this cluster has been named meanwhile.")
    recorder = ActionRecorder(request, stores, "cluster.name", "")
    person_id = await resolve_person(catalog, body.person_id, body.name, recorder)  # made for this: undo removes
    person = await catalog.get_person(person_id) if person_id is not None else None
    if person is None:  # exactly one of person_id and name is given, so only if deleted this moment
        raise NotFound("The person to name this cluster after is gone.")
    person_id, name = person.id, person.name
    faces = [f for f in faces if person_id not in f.not_person_ids]  # sticky "not X": never named X here
    named_ids = {f.id for f in faces}
    skipped = [f for f in chosen if f not in named_ids]
    if not faces:
        raise Conflict(f"Every face of this cluster left to name was said not to be {name}.")
    recorder.action.summary = f"Named {faces_phrase(len(faces))} {name}"
    await recorder.remember_faces(faces)
    by = actor_of(request)
    for face in faces:
        await catalog.set_person_label(face.id, person_id, by=by, via=LabelVia.cluster)
    action = await recorder.save()
    index.forget(list(named_ids))
    excluded = [f for f in cluster.ordered() if f in excluded_set]
    return ClusterNamedOut(person_id=person_id, name=name, named=len(faces), excluded=excluded, skipped=skipped,
                           action=action)
