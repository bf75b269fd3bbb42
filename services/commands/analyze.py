"""``facetag analyze``: the face core on image files, offline, no service needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from services.core.errors import FacetagError
from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.faces.decode import decode_image
from services.core.settings import Settings


def _face_json(face: Any) -> dict[str, Any]:
    return {
        "box": face.box.model_dump(),
        "score": round(face.score, 4),
        "landmarks": [[round(p.x, 1), round(p.y, 1)] for p in face.landmarks],
        "quality": face.quality.score,
        "quality_parts": {"size": face.quality.size, "sharpness": face.quality.sharpness, "pose": face.quality.pose},
        "descriptor": [round(float(v), 6) for v in face.descriptor],
    }


def run_analyze(paths: list[Path], settings: Settings, detector: str | None, upsample: int | None,
                as_json: bool) -> int:
    analyzer = FaceAnalyzer(FaceFinder.from_settings(settings, detector, upsample), Descriptors(settings))
    results: list[dict[str, Any]] = []
    failures = 0
    for path in paths:
        try:
            image = decode_image(path.read_bytes(), settings.max_pixels)
            faces = analyzer.analyze(image.rgb)
            results.append({"file": str(path), "width": image.width, "height": image.height,
                            "faces": [_face_json(f) for f in faces]})
        except (OSError, FacetagError) as exc:
            failures += 1
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            results.append({"file": str(path), "error": message})
            print(f"facetag analyze: {path}: {message}", file=sys.stderr)
    if as_json:
        json.dump({"provider": analyzer.descriptors.provider, "detector": analyzer.finder.detector_label,
                   "descriptor": analyzer.descriptors.label, "images": results}, sys.stdout, indent=1)
        print()
    else:
        for r in results:
            if "faces" not in r:
                continue
            print(f"{r['file']}: {len(r['faces'])} face(s) in {r['width']}x{r['height']}")
            for i, face in enumerate(r["faces"]):
                b = face["box"]
                print(f"  #{i} box x={b['left']} y={b['top']} w={b['width']} h={b['height']} "
                      f"score={face['score']:.2f} quality={face['quality']:.2f} "
                      f"descriptor[:4]={face['descriptor'][:4]}")
    return 1 if failures else 0
