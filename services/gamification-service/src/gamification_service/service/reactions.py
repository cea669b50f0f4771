"""What consumed events do (``events/consume.py`` decodes them into the kit's contracts and
hands them on as they are)."""

from __future__ import annotations

import logging
from datetime import datetime

from deepiri_kit import tracer
from deepiri_kit.clock import stored_time
from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.social import Blocked, FriendAdded, FriendRemoved
from deepiri_kit.contracts.tasks import TaskCompleted
from gamification_service.domain import AccountDeleted, DeletedPlayers, InvalidMatch, rewards
from gamification_service.domain import wallet as fold
from gamification_service.domain.wallet import Draft
from gamification_service.service.erasure import Erased, Erasure
from gamification_service.service.friends import FriendBoards
from gamification_service.service.ratings import Ratings, Teams
from gamification_service.service.wallets import Wallets
from gamification_service.store.profiles import Profiles

log = logging.getLogger("gamification.reactions")
SocialEvent = FriendAdded | FriendRemoved | Blocked
_tracer = tracer("gamification_service")


class Reactions:
    """The use cases of consumed events (``events/consume.py`` decodes and hands them on)."""

    def __init__(
        self,
        wallets: Wallets,
        profiles: Profiles,
        erasure: Erasure,
        friends: FriendBoards,
        ratings: Ratings,
    ) -> None:
        self.wallets = wallets
        self.profiles = profiles
        self.erasure = erasure
        self.friends = friends
        self.ratings = ratings

    async def on_task_completed(self, event_id: str, user_id: str, event: TaskCompleted) -> None:
        """Pay a completed task's reward once (its ledger key says what "once" means)."""
        facts = fold.TaskFacts.of(event)
        # The state this process last saw: recent completions damp a farmed habit.
        state = await self.wallets.snapshots.current(user_id)
        reward = rewards.task_reward(facts, fold.recent_completions(state))
        ref = {"event_id": event_id, "task_id": event.task_id}
        if event.completion_id:
            ref["completion_id"] = event.completion_id
        draft = Draft(
            key=rewards.credit_key(event.kind, event.task_id, event.completion_id, event_id),
            kind="task",
            amounts=reward.amounts,
            reason=f"{event.kind} completed",
            ref=ref,
            factors=reward.factors,
            task=facts,
        )
        await self._pay(user_id, draft, state)

    async def on_challenge_completed(
        self, event_id: str, user_id: str, event: ChallengeCompleted
    ) -> None:
        """Pay a challenge once per user and challenge, whatever the event id; a duel's or a
        group's result is recorded as a rated match (once, whichever player's event comes
        first: every player's event carries the same result)."""
        reward = rewards.challenge_reward(event.difficulty, event.points, event.passed)
        draft = Draft(
            key=f"challenge:{user_id}:{event.challenge_id}",
            kind="challenge",
            amounts=reward.amounts,
            reason="challenge passed" if event.passed else "challenge attempted",
            ref={"event_id": event_id, "challenge_id": event.challenge_id},
            challenge=fold.ChallengeFacts.of(event, user_id),
        )
        await self._pay(user_id, draft)
        teams = rewards.challenge_match(user_id, event)
        if teams:
            await self._rate(event.challenge_id, event.category or "overall", teams)

    async def _rate(self, challenge_id: str, category: str, teams: Teams) -> None:
        try:
            await self.ratings.record_match(f"challenge:{challenge_id}", category, teams)
        except DeletedPlayers:
            log.info("challenge match with a deleted player not rated")
        except InvalidMatch as exc:
            # A result the ratings cannot take is the producer's bug: kept out of the ladder.
            log.warning("challenge %s not rated: %s", challenge_id, exc)

    async def on_profile(self, user_id: str, name: str | None, at: datetime) -> None:
        """Keep the newest display name (events can arrive out of order; a deleted
        account's name is never taken back)."""
        if await self.erasure.buried(user_id):
            return
        async with self.erasure.undone_if_erased([user_id]):  # deleted meanwhile: again
            await self.profiles.set_name(user_id, name, stored_time(at))

    async def on_user_deleted(self, user_id: str, deleted_at: datetime) -> Erased:
        """Erase everything of the account and keep it erased (``service/erasure.py``)."""
        return await self.erasure.erase(user_id, deleted_at)

    async def on_social(self, change: int, event: SocialEvent) -> None:
        """A friendship began or ended (a block ends it too): change ``change`` of the pair
        in user-service's social log, applied unless a newer one was."""
        if isinstance(event, FriendAdded):
            await self.friends.befriend(event.user_id, event.friend_id, change)
        elif isinstance(event, FriendRemoved):
            await self.friends.part(event.user_id, event.friend_id, change)
        elif isinstance(event, Blocked):
            await self.friends.part(event.user_id, event.blocked_id, change)

    async def _pay(self, user_id: str, draft: Draft, state: fold.WalletState | None = None) -> None:
        try:
            with _tracer.start_as_current_span(
                "gamification credit",
                attributes={"deepiri.credit.kind": draft.kind, "deepiri.credit.key": draft.key},
            ):
                await self.wallets.record(user_id, draft, state=state)
        except AccountDeleted:
            # A late event for an erased account: dropped, so it cannot bring the user back.
            log.info("event for a deleted account dropped", extra={"kind": draft.kind})
