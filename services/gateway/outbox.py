"""Tasks the broker refused because it was down, sent again every few seconds until it takes them.

An accepted photo is already safe in the stores; only its task is missing. Sending it again from here
gets it going seconds after the broker is back. If the gateway itself stops meanwhile, the
reconciler's sweep for stalled photos is the backstop.
"""

from __future__ import annotations

import asyncio
import logging

from celery import Celery

from services.core.queue import send

log = logging.getLogger(__name__)
RESEND_SECONDS = 2.0
TaskArg = str | tuple[str, ...]  # hashable, so a task waits once however often it is asked for


class Outbox:
    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        self._waiting: dict[tuple[str, tuple[TaskArg, ...]], None] = {}  # insertion-ordered set

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def send(self, task: str, *args: TaskArg) -> bool:
        """Queue the task now if the broker answers, else keep it to send later; whether it went now."""
        try:
            await asyncio.to_thread(send, self._celery, task, *args)
            return True
        except Exception as exc:  # kombu reports a broker outage as several exception types
            self._waiting[(task, args)] = None
            log.warning("broker unavailable (%s); %s %s will be sent when it is back", exc, task, args)
            return False

    async def resend_waiting(self) -> int:
        """Send what is waiting, oldest first, until the broker refuses again; how many went."""
        sent = 0
        for task, args in list(self._waiting):
            try:
                await asyncio.to_thread(send, self._celery, task, *args)
            except Exception:
                break  # still down: try again next round
            del self._waiting[(task, args)]
            sent += 1
        if sent:
            log.info("broker back: sent %d waiting tasks, %d still waiting", sent, len(self._waiting))
        return sent

    async def run(self) -> None:
        while True:
            await asyncio.sleep(RESEND_SECONDS)
            await self.resend_waiting()
