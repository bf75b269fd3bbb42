"""The blob store chosen by URL: ``file:///abs/path`` (embedded) or ``s3://ACCESS:SECRET@host:port/bucket``."""

from __future__ import annotations

from services.core.blobs.base import BlobStore

__all__ = ["BlobStore", "open_blobs"]

ACCEPTED = "file:///absolute/folder or s3://ACCESS:SECRET@host:port/bucket[/prefix][?secure=true]"


def open_blobs(url: str) -> BlobStore:
    if url.startswith("file://"):
        from services.core.blobs.local import LocalBlobStore

        path = url[len("file://") :]
        if not path.startswith("/") or path.strip("/") == "":
            raise ValueError(f"blob URL {url!r} must name an absolute folder; accepted forms: {ACCEPTED}")
        return LocalBlobStore("/" + path.lstrip("/"))
    if url.startswith("s3://"):
        from services.core.blobs.s3 import S3BlobStore

        try:
            return S3BlobStore(url)
        except ValueError as exc:
            raise ValueError(f"{exc}; accepted forms: {ACCEPTED}") from exc
    shown = url.rpartition("@")[2]  # never echo a secret
    raise ValueError(f"unsupported blob URL {shown!r}; accepted forms: {ACCEPTED}")
