"""Open the catalog and blob store named by the settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.access.store import AccessStore
from services.core.blobs import BlobStore, open_blobs
from services.core.catalog import Catalog, open_access, open_catalog
from services.core.settings import Settings


@dataclass
class Stores:
    catalog: Catalog
    blobs: BlobStore
    access: AccessStore

    @classmethod
    async def open(cls, settings: Settings) -> Stores:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        catalog = open_catalog(settings.catalog_url)
        await catalog.connect()
        access = open_access(settings.catalog_url)
        await access.connect()
        return cls(catalog=catalog, blobs=open_blobs(settings.blob_url), access=access)

    async def close(self) -> None:
        await self.catalog.close()
        await self.access.close()
