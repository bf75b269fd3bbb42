"""The blob store: originals, thumbnails, face chips, datasets and models. Local folder or S3/MinIO."""

from __future__ import annotations

from abc import ABC, abstractmethod


class BlobStore(ABC):
    """Synchronous key/value store for bytes. Keys are '/'-separated paths such as ``images/<id>/original``.

    ``put`` is atomic: a reader sees the old bytes or the new, never a partial object.
    ``get`` of a missing key raises ``services.core.errors.NotFound``; store outages raise
    ``StoreUnavailable``. Keys must not start with '/' nor contain empty segments or segments starting
    with '.', so no '..' (InvalidInput); dot names are reserved for the local store's temporary files.
    """

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error."""

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys starting with prefix, sorted."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable if the store does not answer."""

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        return len(keys)
