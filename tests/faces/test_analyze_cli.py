"""``facetag analyze`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.commands.cli", "analyze", *args],
                          capture_output=True, text=True, timeout=300)


def test_json_output_and_bad_file_does_not_stop_the_rest(facedata: Path, tmp_path: Path) -> None:
    good = facedata / "facetag_samples" / "ben_mat_4.jpg"
    broken = facedata / "bad" / "broken" / "truncated_half_madonna.jpg"
    result = _analyze("--json", str(broken), str(good), str(tmp_path / "missing.jpg"))
    assert result.returncode == 1
    assert "cut off" in result.stderr and "missing.jpg" in result.stderr
    report = json.loads(result.stdout)
    by_file = {Path(r["file"]).name: r for r in report["images"]}
    assert len(by_file["ben_mat_4.jpg"]["faces"]) == 2
    face = by_file["ben_mat_4.jpg"]["faces"][0]
    assert len(face["descriptor"]) == 128 and len(face["landmarks"]) == 5 and face["quality"] > 0.8
    assert report["detector"] == "centerface-deface1.5.0+recheck" and report["descriptor"] == "sface-2021dec"
    assert "error" in by_file["truncated_half_madonna.jpg"]


def test_haar_and_upsample_options(facedata: Path) -> None:
    result = _analyze("--detector", "haar", "--upsample", "0", str(facedata / "facetag_samples" / "ben.jpg"))
    assert result.returncode == 0, result.stderr
    assert "face(s)" in result.stdout
