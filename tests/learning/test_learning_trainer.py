"""The trainer on a real catalog and blob store: publish, keep a worse model out, force, datasets."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from learning_data import faces_of, people_centres, running_trainer

from services.core import registry as reg
from services.core.catalog import Catalog
from services.core.domain import Box, FaceRecord, ImageRecord, JobState, utcnow
from services.core.errors import InvalidInput
from services.core.faces.networks import NETWORKS
from services.core.faces.quantize import verify_int8_backbone
from services.core.image_codec import decode_png, encode_png
from services.core.library_network import configured
from services.core.settings import Settings
from services.trainer.pipeline import Trainer
from services.trainer.schedule import beat_schedule, parse_cron

CHIP = encode_png(np.full((150, 150, 3), 128, dtype=np.uint8))


@pytest.fixture
async def trainer(tmp_path: Path) -> AsyncIterator[Trainer]:
    # The trainer's mechanics on dlib's network: 128-D descriptors and 150 px chips, as these faces have.
    settings = Settings(data_dir=tmp_path / "data", execution_provider="cpu", descriptor="dlib")
    async with running_trainer(settings) as trainer:
        yield trainer


async def add_person_faces(trainer: Trainer, name: str, vectors: np.ndarray, *, prefix: str = "") -> list[str]:
    catalog: Catalog = trainer.ctx.stores.catalog
    person = await catalog.find_person(name) or await catalog.create_person(name)
    ids = []
    for i, vector in enumerate(vectors):
        image_id = f"{prefix}{name}-{i}".replace(" ", "_")
        await catalog.add_image(ImageRecord(id=image_id, sha256=image_id))
        face_id = f"{image_id}-000"
        chip_key = f"images/{image_id}/faces/{face_id}.png"
        trainer.ctx.stores.blobs.put(chip_key, CHIP)
        await catalog.add_face(FaceRecord(id=face_id, image_id=image_id, box=Box(left=0, top=0, width=50, height=50)))
        await catalog.set_face_analysis(face_id, vector.tolist(), chip_key)
        await catalog.set_person_label(face_id, person.id)
        ids.append(face_id)
    return ids


async def add_people(trainer: Trainer, n_people: int, per_person: int, seed: int = 0) -> None:
    centres = people_centres(n_people, seed)
    for p in range(n_people):
        await add_person_faces(trainer, f"Person {p}", faces_of(centres[p], per_person, 100 + p))


async def test_too_few_faces_fails_the_job_with_what_to_do(trainer: Trainer) -> None:
    await trainer.train("job-1", {})
    job = await trainer.ctx.stores.catalog.get_job("job-1")
    assert job is not None and job.state == JobState.failed
    assert "PATCH /v1/faces" in job.message and "facetag import" in job.message


async def test_publish_then_keep_out_a_worse_model_then_force(trainer: Trainer) -> None:
    await add_people(trainer, 5, 12)
    result = await trainer.train("job-1", {})
    assert result["promoted"] and result["version"] == "v1", result
    job = await trainer.ctx.stores.catalog.get_job("job-1")
    assert job is not None and job.state == JobState.done and job.progress == 1.0
    registry = trainer.registry
    manifest = registry.manifest("v1")
    assert [label.name for label in manifest.labels] == [f"Person {p}" for p in range(5)]
    assert manifest.parent_version is None and manifest.metrics["accuracy"] >= 0.9
    assert set(manifest.metrics["per_person"]) == {f"Person {p}" for p in range(5)}
    assert manifest.metrics["unknown_rejection"] >= 0.9
    assert manifest.sha256 == reg.sha256_bytes(registry.blobs.get(reg.model_key("v1")))
    assert manifest.backbone_sha256 and manifest.dataset["faces"] == 60
    assert registry.blobs.exists(manifest.dataset["snapshot"])
    assert registry.current().version == "v1"  # type: ignore[union-attr]

    same = await trainer.train("job-2", {})
    assert same["version"] is None and "nothing new" in same["message"]

    worse = await trainer.train("job-3", {"threshold": 0.2})
    assert worse["version"] == "v2" and not worse["promoted"]
    assert "worse than v1" in worse["reason"]
    assert registry.current().version == "v1"  # type: ignore[union-attr]
    assert registry.manifest("v2").evaluation["promoted"] is False

    forced = await trainer.train("job-4", {"threshold": 0.2, "force": True})
    assert forced["promoted"] and forced["version"] == "v3" and "forced" in forced["reason"]
    assert registry.current().version == "v3"  # type: ignore[union-attr]

    # A new person: the next model knows more and beats the current one on the same held-out faces.
    await add_person_faces(trainer, "Newcomer", faces_of(people_centres(7, 0)[6], 12, 999))
    better = await trainer.train("job-5", {})
    assert better["promoted"] and better["version"] == "v4"
    assert registry.manifest("v4").parent_version == "v3"
    assert len(registry.manifest("v4").labels) == 6


async def test_marked_unknown_faces_are_negatives(trainer: Trainer) -> None:
    await add_people(trainer, 3, 10)
    ids = await add_person_faces(trainer, "Tmp", faces_of(people_centres(4, 0)[3], 6, 55))
    catalog = trainer.ctx.stores.catalog
    for face_id in ids:
        await catalog.set_person_label(face_id, None)  # a person says: nobody I know
    result = await trainer.train(None, {})
    assert result["promoted"]
    manifest = trainer.registry.manifest(result["version"])
    assert manifest.dataset["marked_unknown_faces"] == 6
    assert "Tmp" not in [label.name for label in manifest.labels]


async def test_dataset_zip_has_chips_and_manifest(trainer: Trainer) -> None:
    await add_people(trainer, 2, 3)
    result = await trainer.collect("ds-1", {"since": None, "label_sources": ["person"]})
    assert result["faces"] == 6 and result["people"] == 2
    data = trainer.ctx.stores.blobs.get(result["zip_key"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "manifest.csv" in names and "manifest.json" in names
        assert sum(n.startswith("chips/Person_0/") for n in names) == 3
        manifest = json.loads(archive.read("manifest.json"))
        row = manifest["items"][0]
        assert {"face_id", "person", "label_source", "image_id", "labelled_at"} <= set(row)
        assert row["label_source"] == "person"
        assert archive.read(row["chip"]) == CHIP
    later = await trainer.collect("ds-2", {"since": (utcnow() + timedelta(minutes=1)).isoformat()})
    assert later["faces"] == 0
    job = await trainer.ctx.stores.catalog.get_job("ds-1")
    assert job is not None and job.state == JobState.done


def test_schedule_from_cron() -> None:
    settings = Settings(train_schedule="30 2 * * 1")
    entry = beat_schedule(settings)["retrain"]
    assert entry["task"] == "facetag.train_model" and entry["options"] == {"queue": "train"}
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {30}
    assert parse_cron("@daily").hour == {3}
    assert beat_schedule(Settings(train_schedule="")) == {}
    with pytest.raises(InvalidInput, match="5 fields"):
        parse_cron("every day")
    with pytest.raises(InvalidInput, match="not valid cron"):
        parse_cron("99 * * * *")


async def test_descriptors_are_computed_again_when_the_backbone_changed(trainer: Trainer) -> None:
    await add_people(trainer, 3, 6)
    first = await trainer.train(None, {})
    registry = trainer.registry
    manifest = registry.manifest(first["version"])
    # As if v1 had been trained with another descriptor network than the one installed now.
    registry.blobs.put(reg.manifest_key(manifest.version),
                       manifest.model_copy(update={"backbone_sha256": "0" * 64}).model_dump_json().encode())
    catalog = trainer.ctx.stores.catalog
    before = await catalog.get_face("Person_0-0-000")
    await trainer.train(None, {"force": True})
    after = await catalog.get_face("Person_0-0-000")
    assert before is not None and after is not None and after.descriptor is not None
    expected = trainer.descriptors(configured(trainer.ctx.settings)).compute(np.stack([decode_png(CHIP)]))[0]
    assert after.descriptor != before.descriptor
    assert np.allclose(after.descriptor, expected, atol=1e-5)


async def test_int8_precision_publishes_models_on_the_int8_backbone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", execution_provider="cpu", descriptor="dlib",
                        descriptor_precision="int8")
    async with running_trainer(settings) as trainer:
        await add_people(trainer, 3, 6)
        result = await trainer.train(None, {})
        manifest = trainer.registry.manifest(result["version"])
    assert manifest.backbone_sha256 == verify_int8_backbone(NETWORKS["dlib"], False, settings.model_cache).sha256
