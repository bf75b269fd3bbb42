"""Blobs in an S3 bucket (MinIO in the cluster): ``s3://ACCESS:SECRET@host:port/bucket[/prefix]``.

Plain http unless ``?secure=true``; ``?region=`` skips the bucket-location lookup. An optional path
after the bucket keeps every key under that prefix, so several deployments can share a bucket.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote, urlsplit

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError

from services.core.blobs.base import BlobStore
from services.core.blobs.keys import check_key, check_prefix
from services.core.errors import NotFound, StoreUnavailable

URL_FORM = "s3://ACCESS:SECRET@host:port/bucket[/prefix][?secure=true&region=...]"
_MISSING = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_TRUE = {"1", "true", "yes", "on"}


class S3BlobStore(BlobStore):
    def __init__(self, url: str, connect_timeout: float = 5.0, read_timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        bucket, _, prefix = parts.path.lstrip("/").partition("/")
        if parts.scheme != "s3" or not host or not bucket:
            raise ValueError(f"blob URL must look like {URL_FORM}")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        self.endpoint = host
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        check_prefix(self.prefix)
        # Few, quick retries: callers retry outages themselves, with backoff, and must hear of one soon.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=10,
        )
        self._client = Minio(
            host,
            access_key=unquote(parts.username or ""),
            secret_key=unquote(parts.password or ""),
            secure=query.get("secure", "").lower() in _TRUE,
            region=query.get("region") or None,
            http_client=http,
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextmanager
    def _errors(self, key: str = "") -> Iterator[None]:
        """Missing objects become NotFound; anything that stops us talking to S3 becomes StoreUnavailable."""
        try:
            yield
        except S3Error as exc:
            if exc.code in _MISSING and key:
                raise NotFound(f"no blob {key!r}") from None
            if exc.code in _REFUSED:
                raise StoreUnavailable(
                    f"the S3 store at {self.endpoint} refused the credentials for bucket {self.bucket!r}: {exc.code}"
                ) from exc
            raise StoreUnavailable(f"the S3 store at {self.endpoint} failed: {exc.code}: {exc.message}") from exc
        except (ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"the S3 store at {self.endpoint} did not answer: {exc}") from exc

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock, self._errors():
            if not self._bucket_ready and not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:  # another process created it first
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise
            self._bucket_ready = True

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        name = self._name(key)
        self._ensure_bucket()
        with self._errors(key):
            self._client.put_object(self.bucket, name, io.BytesIO(data), len(data), content_type=content_type)

    def get(self, key: str) -> bytes:
        name = self._name(key)
        self._ensure_bucket()
        with self._errors(key):
            response = self._client.get_object(self.bucket, name)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

    def exists(self, key: str) -> bool:
        name = self._name(key)
        self._ensure_bucket()
        try:
            with self._errors(key):
                self._client.stat_object(self.bucket, name)
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        self._ensure_bucket()
        with self._errors(key):
            self._client.remove_object(self.bucket, name)  # S3 deletes of missing keys succeed

    def list(self, prefix: str) -> list[str]:
        full = self.prefix + check_prefix(prefix)
        self._ensure_bucket()
        with self._errors():
            objects = self._client.list_objects(self.bucket, prefix=full, recursive=True)
            names = [obj.object_name for obj in objects if obj.object_name]
        return sorted(name[len(self.prefix) :] for name in names)

    def delete_prefix(self, prefix: str) -> int:
        """One batched request per thousand keys instead of one request per key."""
        keys = self.list(prefix)
        with self._errors():
            failures = list(self._client.remove_objects(self.bucket, (DeleteObject(self.prefix + k) for k in keys)))
        if failures:
            raise StoreUnavailable(
                f"the S3 store at {self.endpoint} did not delete {len(failures)} blobs: {failures[0].message}"
            )
        return len(keys)

    def ping(self) -> None:
        with self._errors():
            self._client.bucket_exists(self.bucket)
