"""How many predictions may be in flight at once. No queue of our own while the provider keeps
up: the limit starts at the ceiling, halves when the provider pushes back (429 or 503, honouring
its Retry-After), and grows back by one with each submit it accepts (additive increase,
multiplicative decrease, as TCP does). Jobs that do wait are served first come, first served,
and can tell their place in line."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class Withdrawn(Exception):
    """A waiting job left the line before it got a slot."""


class Ticket:
    """One job's place: waiting, then holding a slot."""

    __slots__ = ("granted",)

    def __init__(self) -> None:
        self.granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class AdaptiveLimit:
    def __init__(self, ceiling: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self._clock = clock
        self._in_flight = 0
        self._waiting: deque[Ticket] = deque()
        self._paused_until = 0.0
        self._wake: asyncio.TimerHandle | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def position(self, ticket: Ticket) -> int | None:
        """1 for the next job to start; None once it holds a slot (or has left the line)."""
        if ticket.granted.done():
            return None
        try:
            return self._waiting.index(ticket) + 1
        except ValueError:
            return None

    @asynccontextmanager
    async def slot(self, ticket: Ticket | None = None) -> AsyncIterator[None]:
        """Hold one slot for the life of a prediction; wait in line for it if need be."""
        ticket = ticket or Ticket()
        self._waiting.append(ticket)
        self._admit_waiters()
        try:
            await ticket.granted
        except BaseException:
            granted = ticket.granted
            if granted.done() and not granted.cancelled() and granted.exception() is None:
                self._release()  # granted just as it was cancelled: give the slot back
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
            raise
        try:
            yield
        finally:
            self._release()

    def withdraw(self, ticket: Ticket) -> bool:
        """Take a waiting ticket out of the line (its `slot` raises Withdrawn); False once it
        holds a slot."""
        if ticket.granted.done() or ticket not in self._waiting:
            return False
        self._waiting.remove(ticket)
        ticket.granted.set_exception(Withdrawn())
        return True

    def accepted(self) -> None:
        """The provider took a submit: grow back towards the ceiling."""
        if self.limit < self.ceiling:
            self.limit += 1
            self._admit_waiters()

    def pushed_back(self, retry_after: float | None) -> None:
        """The provider refused for load: halve the limit, and start nothing new until it said
        to try again."""
        self.limit = max(1, self.limit // 2)
        if retry_after:
            self._paused_until = max(self._paused_until, self._clock() + retry_after)

    def _release(self) -> None:
        self._in_flight -= 1
        self._admit_waiters()

    def _admit_waiters(self) -> None:
        pause = self._paused_until - self._clock()
        if pause > 0:
            if self._wake is None:
                self._wake = asyncio.get_running_loop().call_later(pause, self._resume)
            return
        while self._waiting and self._in_flight < self.limit:
            ticket = self._waiting.popleft()
            if not ticket.granted.done():
                self._in_flight += 1
                ticket.granted.set_result(None)

    def _resume(self) -> None:
        self._wake = None
        self._admit_waiters()
