"""``FACETAG_TRAIN_SCHEDULE``: a cron expression turned into Celery beat's schedule for retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.schedules import crontab

from services.core.errors import InvalidInput
from services.core.queue import TRAIN_MODEL, TRAIN_QUEUE
from services.core.settings import Settings

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 3 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 3 * * 0",
    "@monthly": "0 3 1 * *",
}
SCHEDULE_NAME = "retrain"


def parse_cron(expression: str) -> crontab:
    """Five fields (minute hour day-of-month month day-of-week), UTC, or @hourly/@daily/@weekly/@monthly."""
    text = ALIASES.get(expression.strip().lower(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        raise InvalidInput(f"FACETAG_TRAIN_SCHEDULE={expression!r} is not a cron expression: it needs 5 fields "
                           "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *' for 03:00 UTC daily")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        return crontab(minute=minute, hour=hour, day_of_week=day_of_week, day_of_month=day_of_month,
                       month_of_year=month_of_year)
    except Exception as exc:
        raise InvalidInput(f"FACETAG_TRAIN_SCHEDULE={expression!r} is not valid cron: {exc}") from exc


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    if not settings.train_schedule.strip():
        return {}
    return {SCHEDULE_NAME: {
        "task": TRAIN_MODEL,
        "schedule": parse_cron(settings.train_schedule),
        "args": [None, {"trigger": "schedule"}],
        "options": {"queue": TRAIN_QUEUE},
    }}


def schedule_file(settings: Settings) -> Path:
    path = settings.data_dir / "beat" / "schedule"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
