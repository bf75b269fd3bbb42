"""Where each kind of blob lives in the blob store."""

from __future__ import annotations


def original(image_id: str) -> str:
    return f"images/{image_id}/original"


def thumbnail(image_id: str) -> str:
    return f"images/{image_id}/thumbnail.jpg"


def image_prefix(image_id: str) -> str:
    return f"images/{image_id}/"


def chip(image_id: str, face_id: str) -> str:
    # Chips sit under their image, so deleting an image's prefix removes them too.
    return f"images/{image_id}/faces/{face_id}.png"


DATASETS_PREFIX = "datasets/"


def dataset_zip(dataset_id: str) -> str:
    return f"{DATASETS_PREFIX}{dataset_id}/dataset.zip"


def dataset_manifest(dataset_id: str) -> str:
    return f"{DATASETS_PREFIX}{dataset_id}/manifest.json"
