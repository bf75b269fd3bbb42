"""Admin API keys: every /v1/admin endpoint needs one of ``FACETAG_ADMIN_KEYS``.

Send it as ``X-Admin-Key: KEY`` or ``Authorization: Bearer KEY``. No key: 401; a wrong key: 403;
keys are compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Header

from services.gateway.deps import SettingsDep
from services.gateway.errors import ApiError

log = logging.getLogger(__name__)
HEADER = "X-Admin-Key"


def _matches(given: str, keys: frozenset[str]) -> bool:
    # Compare with every key, so the time taken says nothing about which or how many matched.
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


async def require_admin(
    settings: SettingsDep,
    x_admin_key: Annotated[str | None, Header(alias=HEADER, description="An admin API key.")] = None,
    authorization: Annotated[str | None, Header(description="Bearer KEY, instead of X-Admin-Key.")] = None,
) -> None:
    given = (x_admin_key or "").strip()
    if not given and authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            given = token.strip()
    keys = settings.admin_key_set
    if not given:
        off = "" if keys else " Note: this server has no admin keys yet; set FACETAG_ADMIN_KEYS on the gateway."
        raise ApiError(401, f"This is an admin endpoint: send an admin API key in the {HEADER} header "
                            f"(or Authorization: Bearer KEY).{off}")
    if not keys:
        raise ApiError(403, "The admin API is switched off: no admin keys are configured. Set FACETAG_ADMIN_KEYS "
                            "(comma-separated) on the gateway and restart it.")
    if not _matches(given, keys):
        log.warning("admin request refused: wrong key")
        raise ApiError(403, "This admin API key is not valid. Check FACETAG_ADMIN_KEYS on the server.")


AdminDep = Depends(require_admin)
AdminRequired = Annotated[None, AdminDep]
