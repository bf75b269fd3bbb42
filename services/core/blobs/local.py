"""Blobs as files under one folder: the embedded default."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from services.core.blobs.base import BlobStore
from services.core.blobs.keys import check_key, check_prefix
from services.core.errors import Conflict, NotFound, StoreUnavailable


class LocalBlobStore(BlobStore):
    """Key ``a/b/c`` is the file ``<root>/a/b/c``. Writes go to a hidden temporary file in the same
    folder that is then renamed over the target, which is atomic on POSIX and Windows."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the blob folder {self.root}: {exc}") from exc

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        try:
            self._write(path, data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise Conflict(f"blob key {key!r} clashes with another key used as its folder: {exc}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot write blob {key!r} under {self.root}: {exc}") from exc

    def _write(self, path: Path, data: bytes) -> None:
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
                break
            except FileNotFoundError:
                if attempt == 2:  # a concurrent delete kept pruning the empty folder
                    raise
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
            os.chmod(temp, 0o644)  # mkstemp makes 0600; blobs are served by other processes too
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no blob {key!r}") from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read blob {key!r} under {self.root}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        except OSError as exc:
            raise StoreUnavailable(f"cannot delete blob {key!r} under {self.root}: {exc}") from exc
        # Drop folders left empty so deleted images leave no trace; stops at the first non-empty one.
        folder = path.parent
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent

    def list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]  # only walk the folder the prefix can be in
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        keys: list[str] = []
        for current, dirs, files in os.walk(start):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            relative = Path(current).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            keys.extend(base + name for name in files if not name.startswith("."))
        return sorted(key for key in keys if key.startswith(prefix))

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreUnavailable(f"the blob folder {self.root} is missing or not writable")
