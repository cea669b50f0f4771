"""Task understanding's rules: what the model is asked to fill in (:class:`TaskDraft`), how a
draft becomes a :class:`TaskUnderstanding` (the due time read in the user's zone), and the
deterministic fallback that reads dates, estimates and steps from the text itself."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec

from ai_service.domain.keywords import classify, words
from deepiri_kit.contracts.agent import (
    AnsweredBy,
    Subtask,
    TaskDifficulty,
    TaskUnderstanding,
    TaskUnderstandingRequest,
    understanding_violations,
)

# A date given without a time is due at the end of the working day, in the user's zone.
DEFAULT_DUE_TIME = time(17, 0)
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[\w\-. ]+$")]
SkillId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,39}$")]


class TaskDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the model answers. ``due_local`` is a wall-clock time in the user's zone
    (``YYYY-MM-DDTHH:MM``, no offset: the service applies the zone), or null."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    due_local: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")] | None
    estimated_minutes: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None
    difficulty: TaskDifficulty
    tags: Annotated[list[Tag], msgspec.Meta(max_length=20)]
    skill_ids: Annotated[list[SkillId], msgspec.Meta(max_length=20)]
    subtasks: Annotated[list[Subtask], msgspec.Meta(max_length=20)]


class BadDraft(ValueError):
    """A draft that cannot become a task (a due time that does not exist)."""


def local_due(due_local: str | None, zone: ZoneInfo) -> datetime | None:
    if due_local is None:
        return None
    try:
        naive = datetime.fromisoformat(due_local)
    except ValueError:
        raise BadDraft(f"due_local {due_local!r} is not a date and time") from None
    return naive.replace(tzinfo=zone)


def from_draft(
    draft: TaskDraft,
    zone: ZoneInfo,
    *,
    answered_by: AnsweredBy,
    prompt_version: str,
    model: str | None = None,
) -> TaskUnderstanding:
    return TaskUnderstanding(
        title=draft.title,
        due_at=local_due(draft.due_local, zone),
        estimated_minutes=draft.estimated_minutes,
        difficulty=draft.difficulty,
        tags=list(dict.fromkeys(draft.tags)),
        skill_ids=list(dict.fromkeys(draft.skill_ids)),
        subtasks=list(draft.subtasks),
        answered_by=answered_by,
        prompt_version=prompt_version,
        model=model,
    )


def check_draft(
    draft: TaskDraft, request: TaskUnderstandingRequest, zone: ZoneInfo, now: datetime
) -> list[str]:
    """What in a model's draft the platform does not allow (empty: nothing)."""
    try:
        result = from_draft(draft, zone, answered_by="model", prompt_version="check")
    except BadDraft as exc:
        return [str(exc)]
    found = understanding_violations(result, request)
    if result.due_at is not None and result.due_at < now - timedelta(days=1):
        found.append("due_local lies in the past")
    return found


# --- the fallback -------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|rsday|urday|sday)?"
CLOCK = re.compile(
    r"\b(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b|\b(?:at\s+)?(\d{1,2}):(\d{2})\b"
)
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
RELATIVE = re.compile(r"\bin\s+(\d{1,3})\s+(minute|min|hour|day|week)s?\b")
NAMED_DAY = re.compile(rf"\b(?:(next)\s+)?({_DAY})\b")
ESTIMATE = re.compile(
    r"(?:~|about\s+|around\s+|takes?\s+|for\s+)?(\d+(?:\.\d+)?)\s*"
    r"(h|hr|hrs|hour|hours|m|min|mins|minute|minutes)\b"
)
DUE_WORDS = re.compile(r"\b(?:by|before|due|until|on)\s*$")
STEP_SPLIT = re.compile(r"\s*(?:;|\bthen\b|\band then\b|\n+)\s*", re.IGNORECASE)
HASHTAG = re.compile(r"#([\w\-.]{1,40})")


def _weekday_index(name: str) -> int:
    return next(i for i, day in enumerate(WEEKDAYS) if day.startswith(name[:3]))


def parse_due(text: str, now_local: datetime) -> datetime | None:
    """The due time named in ``text``, in the zone of ``now_local``: today / tonight /
    tomorrow, a weekday (the next one; ``next friday`` a week later), an ISO date,
    ``in N minutes|hours|days|weeks``, each with an optional clock time (``5pm``, ``17:30``)."""
    lower = text.lower()
    zone = now_local.tzinfo
    day: date | None = None
    moment: datetime | None = None
    if relative := RELATIVE.search(lower):
        n, unit = int(relative.group(1)), relative.group(2)
        if unit in ("minute", "min"):
            moment = now_local + timedelta(minutes=n)
        elif unit == "hour":
            moment = now_local + timedelta(hours=n)
        else:
            day = now_local.date() + timedelta(days=n * (7 if unit == "week" else 1))
    elif iso := ISO_DATE.search(lower):
        try:
            day = date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            day = None
    elif re.search(r"\btomorrow\b", lower):
        day = now_local.date() + timedelta(days=1)
    elif re.search(r"\b(today|tonight)\b", lower):
        day = now_local.date()
    elif named := NAMED_DAY.search(lower):
        ahead = (_weekday_index(named.group(2)) - now_local.weekday()) % 7 or 7
        day = now_local.date() + timedelta(days=ahead + (7 if named.group(1) else 0))
    if moment is not None:
        return moment.replace(second=0, microsecond=0)
    clock = _clock(lower)
    if day is None:
        if clock is None:
            return None
        day = now_local.date()
        if datetime.combine(day, clock, tzinfo=zone) <= now_local:
            day += timedelta(days=1)  # "at 9am" said in the evening: tomorrow's
    if clock is None:
        clock = time(21, 0) if "tonight" in lower else DEFAULT_DUE_TIME
    return datetime.combine(day, clock, tzinfo=zone)


def _clock(lower: str) -> time | None:
    for found in CLOCK.finditer(lower):
        if found.group(3):
            hour, minute = int(found.group(1)) % 12, int(found.group(2) or 0)
            if found.group(3) == "pm":
                hour += 12
        else:
            hour, minute = int(found.group(4)), int(found.group(5))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    return None


def parse_estimate(text: str) -> int | None:
    """Minutes of work named in ``text`` ("~2h", "30 min", "1.5 hours"), not a deadline."""
    lower = text.lower()
    for found in ESTIMATE.finditer(lower):
        before = lower[: found.start()]
        if re.search(r"\bin\s*$", before):
            continue  # "in 2 hours" is when, not how long
        amount = float(found.group(1))
        minutes = amount * 60 if found.group(2).startswith("h") else amount
        if 1 <= minutes <= 100_000:
            return round(minutes)
    return None


def difficulty_for(minutes: int | None) -> TaskDifficulty:
    if minutes is None:
        return "easy"
    if minutes < 15:
        return "trivial"
    if minutes <= 60:
        return "easy"
    if minutes <= 180:
        return "medium"
    return "hard"


def clean_title(text: str) -> str:
    """The first step of the text without its scheduling words, capitalised."""
    first = STEP_SPLIT.split(text.strip(), maxsplit=1)[0]
    title = HASHTAG.sub("", first)
    for pattern in (ESTIMATE, RELATIVE, ISO_DATE, CLOCK):
        title = pattern.sub("", title)
    title = re.sub(r"\b(today|tonight|tomorrow)\b", "", title, flags=re.IGNORECASE)
    title = re.sub(rf"\b(?:next\s+)?{_DAY}\b", "", title, flags=re.IGNORECASE)
    title = re.sub(r"[,(]\s*[),]?", " ", title)
    title = re.sub(r"\s+", " ", title).strip(" ,.-~")
    while DUE_WORDS.search(title):
        title = DUE_WORDS.sub("", title).strip(" ,.-~")
    title = title or text.strip() or "Task"
    return (title[0].upper() + title[1:])[:200]


def steps(text: str) -> list[str]:
    """The text's steps when it names several ("a; then b; then c"): each after the first
    depends on the one before."""
    parts = [p.strip(" ,.") for p in STEP_SPLIT.split(text.strip()) if p and p.strip(" ,.")]
    return parts if len(parts) > 1 else []


def fallback(
    request: TaskUnderstandingRequest, zone: ZoneInfo, now: datetime, *, prompt_version: str
) -> TaskUnderstanding:
    """Rules over the text: same text, zone and time → same answer."""
    text = request.text
    now_local = now.astimezone(zone)
    estimate = parse_estimate(text)
    found = set(words([text]))
    tags = [t for t in request.tags if t.lower() in found or t.lower() in text.lower()]
    tags += [h for h in HASHTAG.findall(text) if h not in tags]
    category = classify([text])
    if not tags and category != "productivity":
        tags.append(category)  # the seed's keyword fallback: what kind of work it is
    skills = [s for s in request.skills if s in found or set(s.split("-")) <= found]
    subtasks = [
        Subtask(title=clean_title(step), depends_on=[i - 1] if i else [])
        for i, step in enumerate(steps(text)[:20])
    ]
    return TaskUnderstanding(
        title=clean_title(text),
        due_at=parse_due(text, now_local),
        estimated_minutes=estimate,
        difficulty=difficulty_for(estimate),
        tags=list(dict.fromkeys(tags))[:20],
        skill_ids=skills[:20],
        subtasks=subtasks,
        answered_by="fallback",
        prompt_version=prompt_version,
        model=None,
    )
