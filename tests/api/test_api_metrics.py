"""The gateway's /metrics in one process (no multiprocess folder: a cluster's gateway), on both catalogs:
images by status from the catalog's counts, every queue's depth, requests by route template."""

from __future__ import annotations

from api_client import Api
from prometheus_client.parser import text_string_to_metric_families

from services.core.domain import ImageStatus


def test_metrics_count_the_library_and_the_requests(api: Api) -> None:
    done = api.add_image(1)
    api.add_image(2)
    api.run(api.catalog.set_image_status, done.id, ImageStatus.done)
    assert api.client.get(f"/v1/images/{done.id}").status_code == 200
    page = api.client.get("/metrics")
    assert page.status_code == 200
    samples = [s for family in text_string_to_metric_families(page.text) for s in family.samples]
    images = {s.labels["status"]: s.value for s in samples if s.name == "facetag_images"}
    assert images == {"queued": 1, "detecting": 0, "classifying": 0, "done": 1, "failed": 0}
    depths = {s.labels["queue"]: s.value for s in samples if s.name == "facetag_queue_depth"}
    assert depths == {"detect": 0, "classify": 0, "train": 0}
    routes = {s.labels["handler"] for s in samples if s.name == "facetag_http_request_duration_seconds_count"}
    assert "/v1/images/{image_id}" in routes and "/metrics" not in routes
    assert api.client.get("/metrics", headers={"Authorization": ""}).status_code == 401
