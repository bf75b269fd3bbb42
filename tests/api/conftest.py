"""An in-process gateway for API tests, on each catalog implementation.

No worker runs here: tests put images and detected faces straight into the catalog and blob store
(``Api.add_image``, ``Api.add_face``) and record the tasks the gateway queues instead of sending them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_client import API_KEY, Api
from fastapi.testclient import TestClient

from services.core.settings import Settings
from services.gateway import app as gateway_app
from services.gateway import outbox
from services.gateway.routes import image_edits


@pytest.fixture
def api(catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    settings = Settings(data_dir=tmp_path / "data", catalog_url=catalog_url, blob_url="", broker_url="",
                        admin_keys=API_KEY)
    app = gateway_app.create_app(settings)
    with TestClient(app, base_url="http://localhost", headers={"Authorization": f"Bearer {API_KEY}"}) as client:
        api = Api(client)

        def record(_celery: object, task: str, *args: object) -> None:
            api.sent.append((task, args))

        monkeypatch.setattr(image_edits, "send", record)
        monkeypatch.setattr(outbox, "send", record)
        yield api
