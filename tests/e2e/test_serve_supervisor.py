"""``facetag serve`` as an operator kills it: nothing is left running after ``kill -9``, a new serve starts
cleanly at once on the same data, and a second serve on a data folder in use is refused, naming the first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import free_port
from service_fixtures import REPO_ROOT, Service, base_env, start_facetag

from services.commands.serve import Child, look_after

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_kill_9_of_serve_leaves_nothing_running_and_a_new_serve_starts_at_once(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(tmp_path / "data", port=port)
    first = Service(url=f"http://127.0.0.1:{port}", data_dir=tmp_path / "data", catalog_url="", env=env)
    first.processes.append(start_facetag("serve-1", ["serve"], env, tmp_path))
    first.wait_ready()
    serve = first.processes[0].process
    children = _descendants(serve.pid)
    assert len(children) >= 4, children  # gateway, detector, classifier, trainer

    refused = subprocess.run([sys.executable, "-m", "services.commands.cli", "serve", "--port", str(free_port())],
                             env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert f"pid {serve.pid}" in refused.stderr and "another facetag serve is using" in refused.stderr

    os.kill(serve.pid, signal.SIGKILL)
    serve.wait(timeout=10)
    _wait(lambda: not any(_alive(pid) for pid in children), 30, f"children {children} gone after kill -9")

    second = Service(url=first.url, data_dir=first.data_dir, catalog_url="", env=env)
    second.processes.append(start_facetag("serve-2", ["serve"], env, tmp_path))
    try:
        started = time.monotonic()
        second.wait_ready(timeout=60)
        assert time.monotonic() - started < 30
        assert second.client.get("/v1/auth/me").status_code == 200
    finally:
        second.stop()
        first.client.close()


def _child(service: Service, role: str) -> int:
    serve = service.processes[0].process.pid
    for pid in _descendants(serve):
        try:
            if role.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                return pid
        except OSError:
            continue
    raise AssertionError(f"no {role} under serve {serve}")


def test_a_photo_whose_detector_is_killed_mid_photo_is_done_within_30_seconds(tmp_path: Path,
                                                                              facedata: Path) -> None:
    """The embedded broker's lease brings the message back; the reconciler (600 s here) plays no part."""
    photos = sorted((facedata / "groups" / "wider_val").rglob("*.jpg"))
    port = free_port()
    env = base_env(tmp_path / "data", port=port, stalled_after=600)
    service = Service(url=f"http://127.0.0.1:{port}", data_dir=tmp_path / "data", catalog_url="", env=env)
    service.processes.append(start_facetag("serve", ["serve"], env, tmp_path))
    try:
        service.wait_ready()
        service.wait_finished(service.upload(photos[0]).json()["id"])  # models loaded, worker warm
        image_id = service.upload(photos[1]).json()["id"]
        service.poll(f"/v1/images/{image_id}", "status", ("detecting",), 60)
        os.kill(_child(service, "detector"), signal.SIGKILL)
        killed = time.monotonic()
        image = service.wait_finished(image_id, timeout=120)
        took = time.monotonic() - killed
        print(f"photo done {took:.1f}s after its detector was killed")
        assert image["status"] == "done" and image["faces"], image
        assert took < 30, took
    finally:
        service.stop()


def test_a_child_waiting_out_its_back_off_does_not_hold_up_the_others() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    crashing, healthy = Child("crashing", sleeper), Child("healthy", sleeper)
    env = dict(os.environ)
    for child in (crashing, healthy):
        child.start(env)
    crashing.restarts = 4  # it kept dying right after start: its next restart waits 16 s
    try:
        first = healthy.process
        assert crashing.process is not None and first is not None
        crashing.process.kill()
        healthy.started_at -= 60  # it had been running a while when it died
        first.kill()
        crashing.process.wait(), first.wait()
        deadline = time.monotonic() + 5
        while healthy.process is first and time.monotonic() < deadline:
            for child in (crashing, healthy):
                look_after(child, env)
            time.sleep(0.1)
        assert healthy.process is not first and healthy.process.poll() is None, "not restarted within 5 s"
        assert crashing.restart_at is not None and crashing.restart_at - time.monotonic() > 10
    finally:
        for child in (crashing, healthy):
            if child.process is not None and child.process.poll() is None:
                child.process.kill()
