"""A member's history: prompts offered again as they type, favourites, the gallery of delivered
results, and which past job may be shown again."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.core.models import GalleryEntry, Job, JobState, PromptChoice
from bot.core.ports import HistoryStore, JobLedger
from bot.core.refusals import Refused
from bot.core.texts import N_

# Discord allows 25 choices per option, and 100 characters per choice's name and value. A
# longer prompt cannot be a choice's value whole, and a cut one would make a different image,
# so only prompts that fit are offered.
MAX_CHOICES = 25
LONGEST_OFFERED_PROMPT = 100
# How far back a member's own prompts are searched: a bounded scan keeps each keystroke fast.
RECENT_JOBS_SEARCHED = 500
GALLERY_PAGE_SIZE = 10

NOT_SHOWABLE = N_("There is no finished image with that job number in this server.")
NOT_POSTED = N_("That image's message was deleted, so there is nothing left to show.")


@dataclass(frozen=True)
class GalleryPage:
    entries: list[GalleryEntry]
    page: int  # from 0
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 0


class History:
    def __init__(self, store: HistoryStore, ledger: JobLedger) -> None:
        self._store = store
        self._ledger = ledger

    async def prompt_choices(self, guild_id: int, user_id: int, typed: str) -> list[PromptChoice]:
        """The member's favourite, then recent, prompts holding what they typed so far."""
        return await self._store.prompt_history(
            guild_id,
            user_id,
            containing=typed.strip(),
            recent=RECENT_JOBS_SEARCHED,
            longest=LONGEST_OFFERED_PROMPT,
            limit=MAX_CHOICES,
        )

    async def toggle_favourite(self, user_id: int, job_id: int) -> bool:
        """Whether the job is now one of the member's favourites."""
        return await self._store.toggle_favourite(user_id, job_id)

    async def messages_deleted(self, message_ids: Collection[int]) -> None:
        """Results whose message was deleted (by a moderator, or the Delete button) leave the
        gallery and can no longer be shown again."""
        await self._store.forget_result_messages(message_ids)

    async def gallery(
        self,
        guild_id: int,
        *,
        user_id: int | None,
        channel_ids: Collection[int] | None,
        page: int,
    ) -> GalleryPage:
        """One page of results, newest first: a member's own, or those in the channels given
        (the ones the viewer can see). One entry more is read to know if a next page exists."""
        page = max(page, 0)
        entries = await self._store.gallery(
            guild_id,
            user_id=user_id,
            channel_ids=channel_ids,
            offset=page * GALLERY_PAGE_SIZE,
            limit=GALLERY_PAGE_SIZE + 1,
        )
        return GalleryPage(entries[:GALLERY_PAGE_SIZE], page, len(entries) > GALLERY_PAGE_SIZE)

    async def showable(self, guild_id: int, job_id: int) -> Job:
        """A job anyone in the server may show again: one of this server's finished images
        whose message is known. Refused otherwise, with one sentence for every job that is
        not one of this server's images, so that nothing is learnt about other servers'."""
        job = await self._ledger.get_job(job_id)
        if job is None or job.requester.guild_id != guild_id or job.state is not JobState.COMPLETED:
            raise Refused(NOT_SHOWABLE)
        if job.result_message is None:
            raise Refused(NOT_POSTED)
        return job
