"""GET /metrics on the embedded default after one photo: who may read it, and what it shows (issue 13)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.e2e
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "facetag.json"
TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[tuple[Service, str]]:
    """``facetag serve`` with a metrics token, and the id of one photo it took to done."""
    for service in run_embedded(tmp_path_factory.mktemp("metrics"), stalled_after=60, metrics_token=TOKEN):
        response = service.upload(facedata / "facetag_samples" / "ben_mat_4.jpg")
        assert response.status_code == 202, response.text
        image_id = response.json()["id"]
        assert service.wait_finished(image_id)["status"] == "done"
        yield service, image_id


def scrape(service: Service) -> list[Sample]:
    response = httpx.get(f"{service.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (worker processes add up)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def settled(service: Service) -> list[Sample]:
    """A scrape taken once the classify task's end was counted (it is counted just after the photo is done)."""
    deadline = time.monotonic() + 20
    while True:
        samples = scrape(service)
        if value(samples, "facetag_tasks_succeeded_total", stage="classify") >= 1 or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def test_metrics_are_not_public(served: tuple[Service, str]) -> None:
    service, _ = served
    anonymous = httpx.get(f"{service.url}/metrics", timeout=30)
    assert anonymous.status_code == 401 and "Sign in" in anonymous.json()["message"]
    wrong = httpx.get(f"{service.url}/metrics", headers={"Authorization": "Bearer not-the-token"}, timeout=30)
    assert wrong.status_code == 401
    viewer = service.token("viewer", ["read"])
    refused = httpx.get(f"{service.url}/metrics", headers={"Authorization": f"Bearer {viewer}"}, timeout=30)
    assert refused.status_code == 403 and "FACETAG_METRICS_TOKEN" in refused.json()["message"]
    assert service.client.get("/metrics").status_code == 200  # an admin (the admin key)
    # The metrics token opens /metrics and nothing else.
    elsewhere = httpx.get(f"{service.url}/v1/images", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert elsewhere.status_code == 401 and "only good for /metrics" in elsewhere.json()["message"]


def test_one_photo_counts_in_every_stage(served: tuple[Service, str]) -> None:
    service, _ = served
    samples = settled(service)
    for stage, task in (("detect", "detect_image"), ("classify", "classify_image")):
        assert value(samples, "facetag_tasks_started_total", stage=stage, task=task) >= 1, stage
        assert value(samples, "facetag_tasks_succeeded_total", stage=stage, task=task) >= 1, stage
        assert value(samples, "facetag_task_duration_seconds_count", stage=stage, task=task) >= 1, stage
        assert value(samples, "facetag_photos_processed_total", stage=stage) >= 1, stage
        assert value(samples, "facetag_faces_processed_total", stage=stage) >= 2, stage  # Ben and Matt
        assert value(samples, "facetag_tasks_failed_total", stage=stage) == 0, stage
    assert value(samples, "facetag_upload_to_done_seconds_count") >= 1
    assert value(samples, "facetag_upload_to_done_seconds_sum") > 0
    assert value(samples, "facetag_images", status="done") >= 1
    assert {s.labels["queue"] for s in samples if s.name == "facetag_queue_depth"} == {"detect", "classify", "train"}
    assert all(s.value == 1 for s in samples if s.name == "facetag_scrape_source_up")


def test_each_classifier_reports_its_model_and_provider(served: tuple[Service, str]) -> None:
    service, _ = served
    info = [s for s in scrape(service) if s.name == "facetag_classifier_model_info"]
    assert len(info) == 1, info  # serve runs one classifier
    assert info[0].labels["worker"].startswith("classifier-")
    assert info[0].labels["version"] == "none"  # descriptors only: nothing trained yet
    assert info[0].labels["provider"] == "CPUExecutionProvider"


def test_http_durations_are_by_route_template(served: tuple[Service, str]) -> None:
    service, image_id = served
    assert service.client.get(f"/v1/images/{image_id}").status_code == 200
    samples = scrape(service)
    handlers = {s.labels["handler"] for s in samples if s.name == "facetag_http_request_duration_seconds_count"}
    assert "/v1/images/{image_id}" in handlers
    assert not any(image_id in handler for handler in handlers)


def test_the_grafana_dashboard_queries_only_metrics_the_service_serves(served: tuple[Service, str]) -> None:
    service, _ = served
    served_names = {s.name for s in settled(service)}
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queried = {name for expr in queries for name in re.findall(r"\bfacetag_[a-z0-9_]+", expr)}
    assert queried - served_names == set()
    # What an operator looks for: queues, rates and failures, latencies, statuses, models, HTTP by route.
    assert {"facetag_queue_depth", "facetag_tasks_failed_total", "facetag_task_duration_seconds_bucket",
            "facetag_upload_to_done_seconds_bucket", "facetag_images", "facetag_classifier_model_info",
            "facetag_http_request_duration_seconds_bucket"} <= queried
