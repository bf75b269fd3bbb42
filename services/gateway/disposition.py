"""``Content-Disposition`` for any file name: an ASCII ``filename`` for old clients plus RFC 5987's
``filename*`` in UTF-8, so names such as ``Łódź.jpg`` or ``照片.png`` survive (RFC 6266)."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote


def content_disposition(kind: str, filename: str | None) -> str:
    if not filename:
        return kind
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(ch for ch in fallback if ch.isprintable() and ch not in '"\\') or "download"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
