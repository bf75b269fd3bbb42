"""An upload's ``callback_url``: checked when the photo is posted, remembered for its ``photo.done`` or
``photo.failed``.

The callback is signed like a webhook, with the sha256 (hex) of the API token that uploaded the photo as the
secret: the uploader has the token, so it can check the signature, and no other uploader can forge one (a secret
shared by the whole deployment could be). Uploads made with a session or an admin key have no token to sign with,
so they cannot ask for a callback.
"""

from __future__ import annotations

from fastapi import Request

from services.core.settings import Settings
from services.core.webhooks import WebhookStore
from services.core.webhooks.model import Callback
from services.gateway.errors import ApiError
from services.gateway.live_outputs.targets import RefusedTarget, check_public, check_url
from services.gateway.security.policy import principal_of

WHAT = "callback_url"


async def checked_callback(request: Request, url: str, settings: Settings) -> Callback:
    """The callback to remember once the photo has its id (``image_id`` is filled in then); a 422 saying why
    the URL or the caller cannot have one."""
    principal = principal_of(request)
    if principal is None or principal.token_id is None:
        raise ApiError(422, "callback_url needs an upload made with a personal API token: the callback is signed "
                            "with the token's sha256, which only its owner can compute.")
    try:
        check_url(url, WHAT)
        if not settings.callback_allow_private:
            await check_public(url, WHAT)
    except RefusedTarget as exc:
        raise ApiError(422, f"{exc}.") from None
    token = await request.app.state.stores.access.get_token(principal.token_id)
    if token is None:  # revoked between the gate and here
        raise ApiError(422, "The API token of this upload was revoked.")
    return Callback(image_id="", url=url, signing_key=token.digest)


async def remember(request: Request, callback: Callback, image_id: str) -> None:
    store: WebhookStore = request.app.state.live_outputs.store
    await store.set_callback(callback.model_copy(update={"image_id": image_id}))
