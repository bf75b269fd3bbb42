"""The process-wide Celery app that worker tasks register on."""

from services.core.queue import make_celery
from services.core.settings import get_settings

app = make_celery(get_settings())
