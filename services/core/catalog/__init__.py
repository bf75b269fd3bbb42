"""The catalog chosen by URL: ``sqlite:///abs/path.db`` (embedded) or ``mongodb://host:port/db``."""

from __future__ import annotations

from services.core.access.store import AccessStore
from services.core.catalog.base import Catalog, FaceQuery

__all__ = ["Catalog", "FaceQuery", "open_access", "open_catalog", "sqlite_path"]

ACCEPTED = "sqlite:///absolute/path.db or mongodb://host:port/database (also mongodb+srv://)"


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:`` URL; the path must be absolute (extra leading slashes are tolerated)."""
    rest = url[len("sqlite://") :].split("?", 1)[0]
    if not rest.startswith("/") or rest.strip("/") == "":
        raise ValueError(f"catalog URL {url!r} must name an absolute file path; accepted forms: {ACCEPTED}")
    return "/" + rest.lstrip("/")


def open_catalog(url: str) -> Catalog:
    """A catalog for ``url``, not yet connected (call ``connect``; the first use also connects)."""
    if url.startswith("sqlite://"):
        from services.core.catalog.sqlite import SQLiteCatalog

        return SQLiteCatalog(sqlite_path(url))
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from pymongo.errors import ConfigurationError

        from services.core.catalog.mongo import MongoCatalog

        try:
            return MongoCatalog(url)
        except ConfigurationError as exc:
            raise ValueError(f"catalog URL is not a valid MongoDB URL ({exc}); accepted forms: {ACCEPTED}") from exc
    shown = url.split("@")[-1] if "@" in url else url  # never echo a password
    raise ValueError(f"unsupported catalog URL {shown!r}; accepted forms: {ACCEPTED}")


def open_access(url: str) -> AccessStore:
    """The access store (users, sessions, tokens, audit) that lives beside the catalog at ``url``."""
    open_catalog(url)  # the same URL checks, with the same messages
    if url.startswith("sqlite://"):
        from services.core.access.sqlite_store import SQLiteAccessStore

        return SQLiteAccessStore(sqlite_path(url))
    from services.core.access.mongo_store import MongoAccessStore

    return MongoAccessStore(url)
