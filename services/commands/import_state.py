"""What an import has done so far, so that an import stopped part-way resumes where it stopped.

The file (``default_state_file``: in the data folder, never in the photo folder, which may be read-only or
shared; ``--state`` puts it elsewhere) holds one JSON line per step a
photo went through: hashed, on the service (its image id), finished (named, already named, no face). Each line
is appended and flushed as the step happens, so a process killed at any moment loses at most the line it was
writing, which is skipped on reading. The last line about a file wins. A file is recognised by its path under
the folder, its size and its modification time: a file changed since is hashed and looked up again. Image ids
belong to one service: with another ``--url`` only the hashes are reused. The file stays after the import ends,
so importing the folder again (new photos added) skips what was finished; delete it to have every photo checked.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ValidationError


def default_state_file(data_dir: Path, folder: Path) -> Path:
    """``DATA_DIR/imports/NAME-DIGEST.jsonl``: one file per imported folder (by its full path)."""
    resolved = folder.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return data_dir / "imports" / f"{resolved.name}-{digest}.jsonl"

Finished = Literal["named", "already", "no_face"]


class FileState(BaseModel):
    path: str  # relative to the import folder, with forward slashes
    size: int
    mtime_ns: int
    sha256: str
    service: str  # the base URL the image id belongs to
    image_id: str | None = None
    outcome: Finished | None = None  # set once the photo is finished with
    person: str | None = None  # the name its face was found or given, once finished


class ImportState:
    """The state file of one import folder, for one service. Safe to record from several threads."""

    def __init__(self, file: Path, folder: Path, service: str) -> None:
        self.file, self.folder, self.service = file, folder, service
        self._known: dict[str, FileState] = {}
        self._lock = threading.Lock()
        if file.exists():
            for line in file.read_text(encoding="utf-8").splitlines():
                try:
                    entry = FileState.model_validate_json(line)
                except ValidationError:  # the half-written last line of a killed run, or a foreign line
                    continue
                self._known[entry.path] = entry
        self._out: IO[str] | None = None

    def _key(self, photo: Path) -> str:
        return photo.relative_to(self.folder).as_posix()

    def get(self, photo: Path) -> FileState | None:
        """What is known of this file as it is now: nothing if it changed; only its hash if the id is another
        service's."""
        entry = self._known.get(self._key(photo))
        if entry is None:
            return None
        stat = photo.stat()
        if (entry.size, entry.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            return None
        if entry.service != self.service:
            return entry.model_copy(update={"service": self.service, "image_id": None, "outcome": None})
        return entry

    def new(self, photo: Path, sha256: str) -> FileState:
        stat = photo.stat()
        return FileState(path=self._key(photo), size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256,
                         service=self.service)

    def record(self, entry: FileState) -> None:
        with self._lock:
            if self._out is None:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                self._out = self.file.open("a", encoding="utf-8")
            self._known[entry.path] = entry
            self._out.write(json.dumps(entry.model_dump(), ensure_ascii=False) + "\n")
            self._out.flush()  # in the kernel's hands: a killed process loses nothing written

    def close(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None
