"""Erasing a deleted account (``user.deleted``), and keeping it erased.

Everything gamification-service holds of one person is erased, not anonymised: their ledger,
wallet snapshots, ratings and rating history, display name, Idempotency-Key records,
their places on every leaderboard and their friendships (they leave their friends' boards). A ledger is one person's own chain — balances, levels,
badges and board values are folds of that person's entries alone, there are no transfers
between people and no platform-wide sums kept from them — so removing it leaves every
other wallet and board consistent, and a rebuild from MongoDB agrees. The one record shared
with others is a match: the other players' rating changes came from it, so it stays, with a
stand-in id (``deleted-<random>``, different per erasure, linked to nothing) where the
deleted player was.

A tombstone (the kit's ``Tombstones``, collection ``erased_users``) is written first and stays. Every write path checks it:
a late ``task.completed`` for the account is dropped, a request with a token issued before
the deletion is refused (403), a match naming the account is refused (422), and a write
that raced the erasure (past its check when the deletes ran) is erased again once it
landed. Erasing is deletes and an upsert: a redelivered ``user.deleted`` finds nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deepiri_kit import metrics
from deepiri_kit.data.mongo import Tombstones
from gamification_service.store.boards import Boards
from gamification_service.store.friends import Friendships
from gamification_service.store.ledger import Ledger
from gamification_service.store.profiles import Profiles
from gamification_service.store.ratings import RatingStore
from gamification_service.store.snapshots import Snapshots

log = logging.getLogger("gamification.erasure")
ERASURES = metrics.counter(
    "deepiri_gamification_account_erasures_total",
    "Account erasures run (user.deleted handled, or a write undone for an erased account).",
)


@dataclass(frozen=True)
class Erased:
    """What one erasure removed (all zero when there was nothing left)."""

    ledger_entries: int
    snapshots: int
    rating_changes: int
    boards: int
    requests: int


class Erasure:
    def __init__(
        self,
        tombstones: Tombstones,
        ledger: Ledger,
        snapshots: Snapshots,
        ratings: RatingStore,
        profiles: Profiles,
        boards: Boards,
        friendships: Friendships,
    ) -> None:
        self.tombstones = tombstones
        self.ledger = ledger
        self.snapshots = snapshots
        self.ratings = ratings
        self.profiles = profiles
        self.boards = boards
        self.friendships = friendships

    async def erase(self, user_id: str, deleted_at: datetime) -> Erased:
        """The account was deleted: tombstone first, then everything else."""
        await self.tombstones.bury(user_id, deleted_at)
        return await self.again(user_id)

    async def again(self, user_id: str) -> Erased:
        """Erase whatever there is of a buried account (safe to repeat). The boards go last,
        after everything a board write could be rebuilt or delivered from."""
        erased = Erased(
            ledger_entries=await self.ledger.erase(user_id),
            snapshots=await self.snapshots.erase(user_id),
            rating_changes=await self.ratings.erase(user_id, f"deleted-{uuid.uuid4().hex[:16]}"),
            requests=await self.tombstones.forget_requests(user_id),
            boards=await self._forget_profile_and_boards(user_id),
        )
        ERASURES.inc()
        log.info("account erased", extra={"erased": erased.__dict__})
        return erased

    async def _forget_profile_and_boards(self, user_id: str) -> int:
        await self.profiles.erase(user_id)
        await self.friendships.erase(user_id)
        return await self.boards.erase(user_id)

    async def after_sweep(self, links: Sequence[Mapping[str, Any]]) -> None:
        """After a chain's sweep pass (wallet snapshots, rating history): an account erased
        while the pass held its links — read before the deletes, delivered after them (a
        board entry, a delivery marker, a rating put back) — is erased again."""
        owners = {str(link["user_id"]) for link in links if "user_id" in link}
        for user_id in sorted(await self.buried_among(owners)):
            await self.again(user_id)

    def undone_if_erased(
        self, user_ids: Iterable[str], refusal: Callable[[], BaseException] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Around every write path for ``user_ids`` (a credit, badges, a match and its
        finishing, a display name): whoever of them was erased while it wrote is erased again
        once it has written everything, and ``refusal()`` is raised if given (kit
        ``Tombstones.undone_if_buried``)."""
        return self.tombstones.undone_if_buried(user_ids, self.again, refusal)

    async def buried(self, user_id: str) -> bool:
        return await self.tombstones.buried(user_id)

    async def buried_among(self, user_ids: Iterable[str]) -> set[str]:
        return await self.tombstones.buried_among(user_ids)
