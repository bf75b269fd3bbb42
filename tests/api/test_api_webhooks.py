"""Webhooks for admins (register, list without secrets, pause, delete, the delivery log, all audited) and an
upload's callback_url (checked, refused for private addresses and for uploads without an API token)."""

from __future__ import annotations

import io

import numpy as np
from api_client import Api
from PIL import Image

from services.core.webhooks import WebhookStore
from services.core.webhooks.signing import callback_key

HOOK = {"url": "https://hooks.example.org/facetag", "kinds": ["photo.done", "face.named"], "description": "HA"}


def _store(api: Api) -> WebhookStore:
    store: WebhookStore = api.client.app.state.live_outputs.store  # type: ignore[attr-defined]
    return store


def _photo() -> bytes:
    pixels = np.random.default_rng(7).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def _uploader(api: Api) -> str:
    api.client.post("/v1/admin/users", json={"username": "uploader", "password": "a long test password",
                                             "role": "editor"})
    made = api.client.post("/v1/tokens", json={"name": "cam", "scopes": ["images:write"], "for_user": "uploader"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def test_an_admin_manages_webhooks_and_each_change_is_audited(api: Api) -> None:
    made = api.client.post("/v1/admin/webhooks", json=HOOK)
    assert made.status_code == 201, made.text
    hook = made.json()
    assert len(hook["secret"]) >= 32 and hook["kinds"] == ["face.named", "photo.done"] and not hook["paused"]
    listed = api.client.get("/v1/admin/webhooks").json()
    assert listed["next_cursor"] is None
    assert [h["id"] for h in listed["items"]] == [hook["id"]] and "secret" not in listed["items"][0]  # shown once
    paused = api.client.patch(f"/v1/admin/webhooks/{hook['id']}", json={"paused": True})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert api.client.get(f"/v1/admin/webhooks/{hook['id']}/deliveries").json()["items"] == []
    assert api.client.delete(f"/v1/admin/webhooks/{hook['id']}").status_code == 204
    assert api.client.get(f"/v1/admin/webhooks/{hook['id']}/deliveries").status_code == 404
    assert api.client.delete(f"/v1/admin/webhooks/{hook['id']}").status_code == 404
    actions = [entry["action"] for entry in api.client.get("/v1/admin/audit", params={"target_id": hook["id"]})
               .json()["items"]]
    assert actions == ["webhook.delete", "webhook.pause", "webhook.create"]


def test_bad_webhooks_are_refused_with_a_reason(api: Api) -> None:
    for body, why in [({**HOOK, "url": "ftp://example.org/x"}, "http:// or https://"),
                      ({**HOOK, "url": "https://me:pw@example.org/x"}, "credentials"),
                      ({**HOOK, "kinds": []}, "kinds"),
                      ({**HOOK, "kinds": ["photo.eaten"]}, "kinds")]:
        refused = api.client.post("/v1/admin/webhooks", json=body)
        assert refused.status_code == 422 and why in refused.text, refused.text
    # An admin's hook may point into the local network (a receiver on the LAN is the usual case).
    assert api.client.post("/v1/admin/webhooks", json={**HOOK, "url": "http://192.168.1.20:8123/hook"}
                           ).status_code == 201


def test_an_upload_remembers_its_callback_signed_with_the_uploaders_token(api: Api) -> None:
    token = _uploader(api)
    url = "https://93.184.215.14/facetag-callback"  # a public address literal: no DNS needed
    uploaded = api.client.post("/v1/images", files={"file": ("a.jpg", _photo(), "image/jpeg")},
                               data={"callback_url": url}, headers={"Authorization": f"Bearer {token}"})
    assert uploaded.status_code == 202, uploaded.text
    callback = api.run(_store(api).get_callback, uploaded.json()["id"])
    assert callback is not None and (callback.url, callback.signing_key) == (url, callback_key(token))


def test_callback_urls_that_could_reach_inside_are_refused(api: Api) -> None:
    token = _uploader(api)
    for url, why in [("http://127.0.0.1:8000/v1/admin/users", "loopback, private or link-local"),
                     ("http://169.254.169.254/latest/meta-data/", "loopback, private or link-local"),
                     ("http://localhost/", "loopback, private or link-local"),
                     ("gopher://example.org/", "http:// or https://"),
                     ("https://user:pw@example.org/", "credentials")]:
        refused = api.client.post("/v1/images", files={"file": ("a.jpg", _photo(), "image/jpeg")},
                                  data={"callback_url": url}, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 422 and why in refused.json()["message"], refused.text
    assert api.client.get("/v1/images").json()["items"] == []  # nothing was stored


def test_a_callback_needs_an_api_token_to_be_signed_with(api: Api) -> None:
    refused = api.client.post("/v1/images", files={"file": ("a.jpg", _photo(), "image/jpeg")},
                              data={"callback_url": "https://93.184.215.14/cb"})  # the admin key
    assert refused.status_code == 422 and "personal API token" in refused.json()["message"]
