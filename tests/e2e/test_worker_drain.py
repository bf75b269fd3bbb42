"""A worker told to stop (SIGTERM, what Kubernetes sends before SIGKILL) in the middle of a photo finishes
that photo and exits 0 within its pod's grace period, and nothing is lost: not the photo it held, not
the photos waiting in the queue. On the cluster, with real Redis, FerretDB and MinIO."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from service_fixtures import FacetagProcess, Service, run_cluster, start_facetag
from worker_faults import big_group_photo, detector_holding, pid_holding

pytestmark = [pytest.mark.e2e, pytest.mark.servers]
MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"


def grace_seconds(kind: str) -> int:
    """The terminationGracePeriodSeconds the Kubernetes manifests give this worker."""
    documents = yaml.safe_load_all((MANIFESTS / f"{kind}.yaml").read_text())
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    return int(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url: str, mongo_url: str, s3_url: str
            ) -> Iterator[Service]:
    # One worker per stage, so the one stopped is the one holding the photo; no reconciler help (600 s).
    yield from run_cluster(tmp_path_factory.mktemp("drain"), redis_url, mongo_url, s3_url, detectors=1,
                           classifiers=1, trainers=0, stalled_after=600)


def process_of(service: Service, pid: int) -> FacetagProcess:
    (found,) = [p for p in service.processes if p.process.pid == pid]
    return found


def stop_and_wait(worker: FacetagProcess, grace: int) -> float:
    """SIGTERM, as the kubelet sends it; seconds until the process exited (asserted 0 within the grace)."""
    worker.process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    code = worker.process.wait(timeout=grace)
    assert code == 0, f"{worker.name} exited with {code}\n{worker.log.read_text()[-3000:]}"
    return time.monotonic() - stopped


def assert_finished_all_it_took(worker: FacetagProcess, task: str) -> None:
    """Every task the worker received, it finished (Celery logs both with the task's id)."""
    log = worker.log.read_text()
    received = re.findall(rf"Task {re.escape(task)}\[([^]]+)\] received", log)
    succeeded = re.findall(rf"Task {re.escape(task)}\[([^]]+)\] succeeded", log)
    assert received and received == succeeded, f"{worker.name} took {received}, finished {succeeded}\n{log[-3000:]}"


def replace(service: Service, worker: FacetagProcess, kind: str) -> None:
    """Start another worker of the kind, as the Deployment would."""
    replacement = start_facetag(f"{kind}-replacement", ["worker", kind], service.env, worker.log.parent)
    service.processes.append(replacement)


def test_sigterm_mid_photo_finishes_it_and_loses_nothing(cluster: Service, facedata: Path, tmp_path: Path) -> None:
    big = cluster.upload(big_group_photo(facedata, tmp_path))
    assert big.status_code == 202, big.text
    big_id = big.json()["id"]
    detector = process_of(cluster, detector_holding(cluster, big_id))
    waiting = [cluster.upload(photo).json()["id"] for photo in sorted((facedata / "facetag_samples").glob("*.jpg"))]
    assert cluster.client.get(f"/v1/images/{big_id}").json()["status"] == "detecting", "stopped too late"

    took = stop_and_wait(detector, grace_seconds("detector"))
    # it finished the photo it held (a warm shutdown), rather than dropping it or leaving it to a lease
    assert_finished_all_it_took(detector, "facetag.detect_image")
    assert f"image {big_id}: detecting (attempt 1)" in detector.log.read_text()

    # the classifier now holds that photo's classification: stop it in the middle as well
    classifier = process_of(cluster, pid_holding(
        cluster, r"celery\.worker\.strategy: Task facetag\.classify_image\[[^]]+\] received"))
    classify_took = stop_and_wait(classifier, grace_seconds("classifier"))
    assert_finished_all_it_took(classifier, "facetag.classify_image")

    replace(cluster, detector, "detector")
    replace(cluster, classifier, "classifier")
    image = cluster.wait_finished(big_id, timeout=240)
    assert image["status"] == "done" and image["face_count"] >= 3, image
    for image_id in waiting:
        assert cluster.wait_finished(image_id, timeout=240)["status"] == "done"
    # the photo was done once: nobody had to do it again after a lapsed lease
    logs = "".join(p.log.read_text() for p in cluster.processes)
    assert f"image {big_id}: detecting (attempt 2)" not in logs
    print(f"detector drained in {took:.1f}s, classifier in {classify_took:.1f}s")
