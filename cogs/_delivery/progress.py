"""Keeping a reply's progress line current without spending Discord's rate limits on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import discord

from bot.core.polling import Estimate
from bot.core.runner import Downloading, JobEvent, Queued, StoppedWaiting, Submitted
from cogs._delivery.replies import Reply
from cogs._render import STOPPED_WAITING, progress_line, set_progress_line, waiting_line
from cogs._result_buttons import progress_view

log = logging.getLogger(__name__)

EDIT_INTERVAL = 1.5  # seconds between progress edits of one reply


class LiveProgress:
    """Keeps a reply's progress line current, editing only to say something new: nothing for
    the first interval (the deferred reply already shows the bot is working, and most images
    are done by then), then the place in line while the job waits, or the progress while it
    generates; at most one edit per interval, none after `stop`. A set of `jobs` shares the
    one line. With `controls` (the job, or a set's first job), the line carries Cancel while
    it waits and Stop waiting once it generates; after Stop waiting it says so, and nothing
    more until the outcome."""

    def __init__(
        self,
        reply: Reply,
        *,
        jobs: int = 1,
        controls: int | None = None,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reply = reply
        self._count = jobs
        self._controls = controls
        self._stopped_waiting = False
        self._interval = interval
        self._clock = clock
        self._places_in_line: list[Callable[[], int | None]] = []
        self._time_left: Callable[[int], float | None] = lambda place: None
        self._generating: dict[int, tuple[float, Estimate]] = {}  # job id: since, estimate
        self._done: set[int] = set()
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def on_event(self, event: JobEvent) -> None:
        if isinstance(event, Queued):
            self._places_in_line.append(event.place_in_line)
            self._time_left = event.time_left
            if self._task is None:
                self._task = asyncio.create_task(self._keep_current())
        elif isinstance(event, Submitted):
            self._generating[event.job_id] = (self._clock(), event.estimate)
        elif isinstance(event, Downloading):
            self._done.add(event.job_id)
        elif isinstance(event, StoppedWaiting) and not self._stopped_waiting:
            self._stopped_waiting = True
            self._stopped.set()  # no more progress edits; this line stays until the outcome
            if self._task is not None:
                await self._task
            await self._reply.show(STOPPED_WAITING)

    def _view(self) -> discord.ui.View | None:
        """Cancel while nothing has reached the API, Stop waiting once something has."""
        if self._controls is None:
            return None
        return progress_view(self._controls, submitted=bool(self._generating))

    def _line(self) -> str | None:
        """What the reply should say now; None when nothing worth an edit has changed."""
        if self._generating:
            since, estimate = min(self._generating.values(), key=lambda started: started[0])
            elapsed = self._clock() - since
            if self._count == 1:
                return progress_line(elapsed, estimate)
            return set_progress_line(len(self._done), self._count, elapsed, estimate)
        places = [place for place in (tell() for tell in self._places_in_line) if place]
        if not places:
            return None
        # A set is ready when its last image is: the furthest back in line.
        return waiting_line(min(places), self._time_left(max(places)))

    async def _keep_current(self) -> None:
        shown = None
        while not await self._stopped_within(self._interval):
            line = self._line()
            if line is None or line == shown:
                continue
            try:
                await self._reply.show(line, self._view())
                shown = line
            except discord.HTTPException as error:
                log.warning("progress edit failed: %s", error)

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)
        return self._stopped.is_set()

    async def stop(self) -> None:
        """Stop editing; returns once no progress edit is in flight, so the final one is last."""
        self._stopped.set()
        if self._task is not None:
            await self._task
