"""The ``facetag`` command: serving, workers, models and offline tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.core.logs import setup_logging
from services.core.settings import get_settings


def _models(args: argparse.Namespace) -> int:
    from services.core.faces.model_files import ModelFileError, prepare_descriptor_model

    settings = get_settings()
    try:
        manifest, rebuilt = prepare_descriptor_model(settings.model_cache, force=args.force)
    except ModelFileError as exc:
        print(f"facetag models prepare: {exc}", file=sys.stderr)
        return 1
    state = "built and verified against dlib" if rebuilt else "already prepared, verified"
    print(f"{settings.model_cache / manifest.file}: {state}\n  sha256 {manifest.sha256}\n"
          f"  max difference from dlib {manifest.parity_max_abs_diff:.1e}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from services.core.analyze_cmd import run_analyze

    return run_analyze(args.images, get_settings(), args.detector, args.upsample, args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facetag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="prepare the face models from installed packages")
    models_sub = models.add_subparsers(dest="action", required=True)
    prepare = models_sub.add_parser("prepare", help="convert and verify the descriptor network (idempotent)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if the cache verifies")
    prepare.set_defaults(func=_models)

    analyze = sub.add_parser("analyze", help="find faces and descriptors in image files, offline")
    analyze.add_argument("images", nargs="+", type=Path)
    analyze.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    analyze.add_argument("--detector", choices=["hog", "haar"], default=None)
    analyze.add_argument("--upsample", type=int, default=None, choices=range(0, 4), metavar="N")
    analyze.set_defaults(func=_analyze)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(get_settings().log_level)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
