"""What consumed events do (``events/consume.py`` decodes them into the kit's contracts and
hands them on as they are)."""

from __future__ import annotations

from datetime import datetime

from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.tasks import TaskCompleted
from gamification_service.domain import rewards
from gamification_service.domain import wallet as fold
from gamification_service.domain.wallet import Draft
from gamification_service.service.wallets import Wallets
from gamification_service.store.profiles import Profiles


class Reactions:
    """The use cases of consumed events (``events/consume.py`` decodes and hands them on)."""

    def __init__(self, wallets: Wallets, profiles: Profiles) -> None:
        self.wallets = wallets
        self.profiles = profiles

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
        await self.wallets.record(user_id, draft, state=state)

    async def on_challenge_completed(
        self, event_id: str, user_id: str, event: ChallengeCompleted
    ) -> None:
        """Pay a challenge once per user and challenge, whatever the event id."""
        reward = rewards.challenge_reward(event.difficulty, event.points, event.passed)
        draft = Draft(
            key=f"challenge:{user_id}:{event.challenge_id}",
            kind="challenge",
            amounts=reward.amounts,
            reason="challenge passed" if event.passed else "challenge attempted",
            ref={"event_id": event_id, "challenge_id": event.challenge_id},
            challenge=fold.ChallengeFacts.of(event),
        )
        await self.wallets.record(user_id, draft)

    async def on_profile(self, user_id: str, name: str | None, at: datetime) -> None:
        """Keep the newest display name (events can arrive out of order)."""
        await self.profiles.set_name(user_id, name, fold.stored_time(at))
