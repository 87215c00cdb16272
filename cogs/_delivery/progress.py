"""Keeping a reply's progress line current without spending Discord's rate limits on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import discord

from bot.core.polling import Estimate
from bot.core.runner import Downloading, JobEvent, Queued, Submitted
from cogs._delivery.replies import Reply
from cogs._render import progress_line, queued_line

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between progress edits of one reply


class LiveProgress:
    """Keeps a reply's progress line current: at most one edit per interval, none after stop."""

    def __init__(
        self,
        reply: Reply,
        on_first_message: Callable[[int], Awaitable[None]],
        *,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reply = reply
        self._on_first_message = on_first_message
        self._interval = interval
        self._clock = clock
        self._phase = "Queued"
        self._estimate: Estimate | None = None
        self._since = clock()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def on_event(self, event: JobEvent) -> None:
        if isinstance(event, Queued) and self._task is None:
            self._task = asyncio.create_task(self._keep_current())
        elif isinstance(event, Submitted):
            self._phase, self._estimate, self._since = "Generating", event.estimate, self._clock()
        elif isinstance(event, Downloading):
            self._phase = "Finishing"

    def _line(self) -> str:
        if self._phase == "Queued":
            return queued_line()
        return progress_line(self._clock() - self._since, self._estimate, self._phase)

    async def _keep_current(self) -> None:
        shown, message_id = None, None
        while not self._stopped.is_set():
            line = self._line()
            if line != shown:
                try:
                    shown_in = await self._reply.show(line)
                    shown = line
                    if message_id is None and shown_in is not None:
                        message_id = shown_in
                        await self._on_first_message(message_id)
                except discord.HTTPException as error:
                    log.warning("progress edit failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)

    async def stop(self) -> None:
        """Stop editing; returns once no progress edit is in flight, so the final one is last."""
        self._stopped.set()
        if self._task is not None:
            await self._task
