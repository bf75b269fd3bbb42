"""One log format for every process, readable by an operator."""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO", process: str = "facetag") -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)-7s {process}[%(process)d] %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        force=True,
    )
