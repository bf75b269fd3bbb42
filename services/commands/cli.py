"""The ``facetag`` command: serving, workers, models and offline tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.core.logs import setup_logging
from services.core.settings import get_settings


def _models(args: argparse.Namespace) -> int:
    from services.core.errors import FacetagError
    from services.core.faces.prepare import prepare_models

    settings = get_settings()
    try:
        prepared = prepare_models(settings, force=args.force)
    except FacetagError as exc:
        print(f"facetag models prepare: {exc}", file=sys.stderr)
        return 1
    print(f"model files in {settings.model_cache} (licence notices beside each as *.LICENSE.txt):")
    for item in prepared:
        state = "prepared and verified" if item.built else "already prepared, verified"
        print(f"  {item.name:22} {item.file:44} {state}; sha256 {item.sha256[:16]}...; licence {item.licence}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from services.commands.analyze import run_analyze

    return run_analyze(args.images, get_settings(), args.detector, args.upsample, args.json)


def _serve(args: argparse.Namespace) -> int:
    from services.commands.serve import run_serve
    from services.core.settings import Settings

    overrides = {k: v for k, v in {"data_dir": args.data, "host": args.host, "port": args.port}.items() if v}
    return run_serve(Settings(**overrides), detectors=args.detectors, classifiers=args.classifiers)


def _gateway(args: argparse.Namespace) -> int:
    import uvicorn

    from services.gateway.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=args.host or settings.host, port=args.port or settings.port,
                log_level=settings.log_level.lower(), proxy_headers=True)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from services.commands.worker import run_worker

    return run_worker(args.kind)


def _beat(_args: argparse.Namespace) -> int:
    from services.commands.worker import run_beat

    return run_beat()


def _import(args: argparse.Namespace) -> int:
    from services.commands.import_photos import run_import

    return run_import(args.folder, args.url, get_settings(), timeout=args.timeout, progress=not args.no_progress,
                      connections=args.connections, state_file=args.state)


def _users(args: argparse.Namespace) -> int:
    from services.commands.users import run_users

    return run_users(args, get_settings())


def _backup(args: argparse.Namespace) -> int:
    from services.commands.backup import run_backup, run_restore
    from services.core.settings import Settings

    settings = Settings(**({"data_dir": args.data} if args.data else {}))
    runner = run_backup if args.command == "backup" else run_restore
    return runner(args.folder, settings, progress=not args.no_progress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facetag", description="Facetag, self-hosted face tagging: serve it, "
                                     "run its workers, prepare models, analyse photos.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run everything on this machine: gateway and workers, embedded stores")
    serve.add_argument("--data", type=Path, help="folder for all data (default: FACETAG_DATA_DIR or "
                       "~/.local/share/facetag)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.add_argument("--detectors", type=int, default=1, help="detector worker processes")
    serve.add_argument("--classifiers", type=int, default=1, help="classifier worker processes")
    serve.set_defaults(func=_serve)

    gateway = sub.add_parser("gateway", help="run the HTTP gateway only (configured by FACETAG_* variables)")
    gateway.add_argument("--host")
    gateway.add_argument("--port", type=int)
    gateway.set_defaults(func=_gateway)

    worker = sub.add_parser("worker", help="run one worker process (configured by FACETAG_* variables)")
    worker.add_argument("kind", choices=["detector", "classifier", "trainer"])
    worker.set_defaults(func=_worker)

    beat = sub.add_parser("beat", help="send scheduled retraining (FACETAG_TRAIN_SCHEDULE, cron syntax, UTC)")
    beat.set_defaults(func=_beat)

    imp = sub.add_parser("import", help="upload a folder with a folder per person and name the faces")
    imp.add_argument("folder", type=Path, help="e.g. photos/ with photos/Ada/*.jpg, photos/Grace/*.jpg: each "
                     "photo's face (the largest, if several) is named after its folder")
    imp.add_argument("--url", help="the running service (default http://FACETAG_HOST:FACETAG_PORT)")
    imp.add_argument("--timeout", type=float, default=600.0, help="give up waiting for the photos to be "
                     "processed when none was finished for this many seconds (default 600)")
    imp.add_argument("--connections", type=int, default=4, choices=range(1, 33), metavar="N",
                     help="uploads and checks at once, 1-32 (default 4)")
    imp.add_argument("--state", type=Path, help="where the import keeps its progress, so it can be stopped and "
                     "run again (default DATA_DIR/imports/FOLDERNAME-DIGEST.jsonl)")
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    imp.set_defaults(func=_import)

    for name, text in (("backup", "copy the embedded library (catalog, accounts, photos, models) to a new folder, "
                                  "while it runs"),
                       ("restore", "put a backup into an empty data folder (the service stopped)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("folder", type=Path, help="the backup folder")
        command.add_argument("--data", type=Path, help="the data folder (default: FACETAG_DATA_DIR)")
        command.add_argument("--no-progress", action="store_true", help="no progress bar")
        command.set_defaults(func=_backup)

    from services.commands.users import add_parser as add_users_parser

    add_users_parser(sub).set_defaults(func=_users)

    models = sub.add_parser("models", help="prepare the face models from installed packages")
    models_sub = models.add_subparsers(dest="action", required=True)
    prepare = models_sub.add_parser("prepare", help="convert and verify the descriptor network (idempotent)")
    prepare.add_argument("--force", action="store_true", help="rebuild even if the cache verifies")
    prepare.set_defaults(func=_models)

    analyze = sub.add_parser("analyze", help="find faces and descriptors in image files, offline")
    analyze.add_argument("images", nargs="+", type=Path)
    analyze.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    analyze.add_argument("--detector", choices=["centerface", "yunet", "hog", "haar"], default=None)
    analyze.add_argument("--upsample", type=int, default=None, choices=range(0, 4), metavar="N")
    analyze.set_defaults(func=_analyze)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(get_settings().log_level, args.command if args.command != "worker" else args.kind)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
