"""Request and response bodies: strict models (unknown fields are a 400) and their shaping
from domain objects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from deepiri_kit import Model, Out
from user_service.domain import skills
from user_service.domain.accounts import Account
from user_service.domain.skills import Progress, SkillDef, Tree

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
# Long enough for any passphrase; short enough that a megabyte is not hashed.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Zone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Locale = Annotated[str, msgspec.Meta(min_length=2, max_length=35)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Secret = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class RegisterIn(Model):
    email: Email
    password: Password
    display_name: Name
    time_zone: Zone = "UTC"
    locale: Locale = "en"


class EmailIn(Model):
    email: Email


class TokenIn(Model):
    token: Secret


class ResetIn(Model):
    token: Secret
    password: Password


class ProfilePatch(Model):
    """Fields left out stay as they are."""

    display_name: Name | None = None
    time_zone: Zone | None = None
    locale: Locale | None = None
    avatar_url: Url | None = None


class AcceptedOut(Out):
    status: str
    detail: str


class MeOut(Out):
    id: str
    email: str
    email_verified: bool
    display_name: str
    time_zone: str
    locale: str
    avatar_url: str | None
    level: int
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> MeOut:
        return cls(
            id=account.id,
            email=account.email,
            email_verified=account.email_verified,
            display_name=account.display_name,
            time_zone=account.time_zone,
            locale=account.locale,
            avatar_url=account.avatar_url,
            level=account.level,
            created_at=account.created_at,
        )


class PublicProfileOut(Out):
    """What anyone may see of an account: never its email, credentials or tokens."""

    id: str
    display_name: str
    avatar_url: str | None
    level: int

    @classmethod
    def of(cls, account: Account) -> PublicProfileOut:
        return cls(
            id=account.id,
            display_name=account.display_name,
            avatar_url=account.avatar_url,
            level=account.level,
        )


# --- activity -----------------------------------------------------------------------------


class ActivityDayOut(Out):
    date: date
    count: int
    level: int  # the heatmap's shade, 0 (none) to 4 (the busiest quarter of active days)


class CalendarOut(Out):
    time_zone: str
    start: date
    end: date
    total: int
    days: list[ActivityDayOut]


class ActivityBucketOut(Out):
    start: date  # the day, or the Monday of the week
    count: int


class SeriesOut(Out):
    time_zone: str
    interval: str
    start: date
    end: date
    total: int
    buckets: list[ActivityBucketOut]


class StreakOut(Out):
    time_zone: str
    today: date
    current: int  # active days in a row up to today (or yesterday, today not over yet)
    best: int
    last_active: date | None


# --- skill trees --------------------------------------------------------------------------


class SkillOut(Out):
    id: str
    name: str
    description: str
    category: str
    cost: int
    requires: list[str]
    xp: int
    level: int
    xp_to_next_level: int
    unlocked: bool
    missing: list[str]  # prerequisites not unlocked yet
    unlockable: bool  # prerequisites met and points enough

    @classmethod
    def of(cls, skill: SkillDef, progress: Progress) -> SkillOut:
        xp = progress.xp.get(skill.id, 0)
        unlocked = skill.id in progress.unlocked
        missing = [r for r in skill.requires if r not in progress.unlocked]
        return cls(
            id=skill.id,
            name=skill.name,
            description=skill.description,
            category=skill.category,
            cost=skill.cost,
            requires=list(skill.requires),
            xp=xp,
            level=skills.level_of(xp),
            xp_to_next_level=skills.xp_to_next_level(xp),
            unlocked=unlocked,
            missing=missing,
            unlockable=not unlocked and not missing and progress.points >= skill.cost,
        )


class SkillCategoryOut(Out):
    id: str
    name: str
    skills: list[SkillOut]


class SkillTreeOut(Out):
    points: int  # skill points available to spend
    points_granted: int  # ever granted (one per level gained)
    unlocked: int
    categories: list[SkillCategoryOut]

    @classmethod
    def of(cls, tree: Tree, progress: Progress) -> SkillTreeOut:
        return cls(
            points=progress.points,
            points_granted=progress.granted,
            unlocked=len(progress.unlocked),
            categories=[
                SkillCategoryOut(
                    id=c.id,
                    name=c.name,
                    skills=[SkillOut.of(tree.skills[s], progress) for s in c.skills],
                )
                for c in tree.categories
            ],
        )


class UnlockedOut(Out):
    skill: SkillOut
    points: int  # left to spend


class RelationOut(Out):
    """What the caller and ``user_id`` are to each other now, as the caller sees it:
    ``none``, ``outgoing`` (the caller's request is pending), ``incoming``, ``friends`` or
    ``blocked`` (by the caller; never whether the other blocked the caller)."""

    user_id: str
    relation: str


class FriendsOut(Out):
    friends: list[str]


class RequestsOut(Out):
    incoming: list[str]  # requests to the caller, pending
    outgoing: list[str]  # the caller's requests, pending


class BlocksOut(Out):
    blocked: list[str]


class MutualOut(Out):
    user_id: str
    mutual: list[str]


class SuggestionOut(Out):
    user_id: str
    mutual: int  # friends shared with the caller


class SuggestionsOut(Out):
    suggestions: list[SuggestionOut]


class SearchOut(Out):
    users: list[PublicProfileOut]


class FollowsOut(Out):
    following: list[str]  # whom the caller follows
    followers: list[str]  # who follows the caller


class FriendshipOut(Out):
    user_id: str
    version: int  # the number of the pair's newest change (its events carry it in their id)


class FriendshipsOut(Out):
    user_id: str
    friends: list[FriendshipOut]
