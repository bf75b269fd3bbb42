"""Bodies of the content-hash lookup: a client asks which of its files the service has, without sending them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from services.core.domain import ImageStatus
from services.gateway.inputs import StrictBody

MAX_DIGESTS = 1000  # one request per thousand files keeps a 10,000-photo import at ten lookups
Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]


class ImageLookupIn(StrictBody):
    sha256: list[Sha256] = Field(min_length=1, max_length=MAX_DIGESTS,
                                 description="SHA-256 digests of files' bytes, 64 hex digits each.")


class KnownImage(BaseModel):
    sha256: str
    id: str
    status: ImageStatus


class ImageLookupOut(BaseModel):
    found: list[KnownImage] = Field(description="The photos the service has of the digests asked about, in no set "
                                                "order; a digest not here was never uploaded (or was deleted).")
