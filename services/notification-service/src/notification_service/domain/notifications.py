"""Which platform events become notifications, and what they say (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deepiri_kit.contracts.challenges import ChallengeCompleted
from deepiri_kit.contracts.gamification import BadgeAwarded, CurrencyCredited, LevelUp
from deepiri_kit.contracts.social import FriendAdded, FriendRequested
from deepiri_kit.contracts.tasks import TaskCompleted
from deepiri_kit.contracts.users import PasswordResetRequested, VerificationRequested
from notification_service.domain.preferences import Channel, Kind

# Streak lengths worth a notification (every completion would be noise).
STREAK_MILESTONES = frozenset({3, 7, 14, 30, 50, 100, 200, 365})


@dataclass(frozen=True)
class Draft:
    """A notification before it is stored: what the user will read."""

    kind: Kind
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    id: str
    user_id: str
    kind: Kind
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    event_id: str
    event_type: str


@dataclass(frozen=True)
class Mail:
    """A message for the SMTP relay."""

    to: str
    subject: str
    text: str


def notification_id(user_id: str, event_id: str) -> str:
    """One notification per (user, event): the id follows from both, so a redelivered or
    replayed event finds the notification it made the first time."""
    return hashlib.sha256(f"{len(user_id)}:{user_id}{event_id}".encode()).hexdigest()[:32]


def delivery_id(notification: str, channel: Channel) -> str:
    return f"{notification}:{channel}"


def _amounts(amounts: dict[str, int]) -> str:
    parts = [f"{n} {currency}" for currency, n in sorted(amounts.items()) if n]
    return ", ".join(parts) or "nothing"


def reward(event: CurrencyCredited) -> Draft | None:
    """A credit worth telling; a badge's own reward is said by the badge's notification."""
    if not any(event.amounts.values()) or "badge_id" in event.ref:
        return None
    title = f"You earned {_amounts(event.amounts)}"
    body = event.reason or "Credited to your wallet."
    return Draft(
        "reward",
        title,
        body,
        {"amounts": dict(event.amounts), "balances": dict(event.balances), "ref": dict(event.ref)},
    )


def level_up(event: LevelUp) -> Draft:
    return Draft(
        "level_up",
        f"Level {event.level}!",
        f"You reached level {event.level}; {event.xp_to_next_level} XP to the next one.",
        {"level": event.level, "previous_level": event.previous_level},
    )


def badge(event: BadgeAwarded) -> Draft:
    paid = _amounts(event.reward) if any(event.reward.values()) else ""
    return Draft(
        "badge",
        f"Badge earned: {event.name}",
        f"{event.description} (+{paid})" if paid else event.description,
        {
            "badge_id": event.badge_id,
            "rarity": event.rarity,
            "tier": event.tier,
            "reward": dict(event.reward),
        },
    )


def streak(event: TaskCompleted) -> Draft | None:
    if event.streak is None or event.streak.current not in STREAK_MILESTONES:
        return None
    days = event.streak.current
    what = f"“{event.title}”" if event.title else "a task"
    return Draft(
        "streak",
        f"{days} in a row!",
        f"You kept your streak on {what} going for {days} times in a row.",
        {"task_id": event.task_id, "streak": days},
    )


def challenge(event: ChallengeCompleted) -> Draft:
    level = event.difficulty.replace("_", " ")
    if event.passed:
        title = "Challenge complete!"
        body = f"You beat a {level} challenge" + (
            f" for {event.points} points." if event.points else "."
        )
    else:
        title = "Challenge not passed"
        body = f"This {level} challenge got away. Try another one?"
    return Draft(
        "challenge",
        title,
        body,
        {"challenge_id": event.challenge_id, "passed": event.passed, "points": event.points},
    )


def friend_request(event: FriendRequested, sender_name: str | None) -> Draft:
    """For ``event.friend_id``: someone asked to be friends."""
    who = sender_name or "Someone"
    return Draft(
        "friend_request",
        f"{who} wants to be friends",
        "Accept or decline the request in Deepiri.",
        {"user_id": event.user_id},
    )


def friend_added(event: FriendAdded, friend_name: str | None) -> Draft:
    """For ``event.friend_id``, whose request ``event.user_id`` accepted (or crossed)."""
    who = friend_name or "Someone"
    return Draft(
        "friend",
        f"{who} is now your friend",
        "Your friend request was accepted.",
        {"user_id": event.user_id},
    )


def notification_mail(n: Notification, to: str) -> Mail:
    """An ordinary notification by email, for users who chose the email channel."""
    text = (
        f"{n.body}\n\nOpen Deepiri to see it. You get this mail because {n.kind.replace('_', ' ')} "
        "notifications go to your email; change that in your notification settings.\n"
    )
    return Mail(to=to, subject=n.title, text=text)


def mail(event: VerificationRequested | PasswordResetRequested) -> Mail:
    """The account mail (plain text: the link must be copyable from any client)."""
    expires = event.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(event, VerificationRequested):
        subject = "Confirm your Deepiri email address"
        action = "confirm this address"
    else:
        subject = "Reset your Deepiri password"
        action = "choose a new password"
    text = (
        f"Hello,\n\nOpen this link to {action}:\n\n{event.link}\n\n"
        f"It works until {expires}. If you did not ask for this, ignore this message.\n"
    )
    return Mail(to=event.email, subject=subject, text=text)
