"""The daily digest: when a user's digest is due, its once-per-day key, and what it says
(pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from notification_service.domain.notifications import Mail, Notification

# Listed one by one in a digest; the rest are counted.
LISTED = 20


def digest_day(now: datetime, tz: ZoneInfo, hour: int) -> date | None:
    """The local day whose digest is due at ``now``: today once the local clock has reached
    ``hour`` (so a restart or an outage later that day still sends it), else None."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(tz)
    return local.date() if local.hour >= hour else None


def digest_key(user_id: str, day: date) -> str:
    """One digest per user and local day, whichever replica or restart gets there first."""
    return f"digest:{len(user_id)}:{user_id}:{day.isoformat()}"


def digest_mail(to: str, day: date, unread: Sequence[Notification], total: int) -> Mail:
    """The digest of ``total`` unread notifications, the newest ``unread`` of them listed."""
    lines = [f"- {n.title}: {n.body}" for n in unread[:LISTED]]
    more = total - len(lines)
    if more > 0:
        lines.append(f"… and {more} more.")
    noun = "notification" if total == 1 else "notifications"
    text = (
        f"Hello,\n\nYou have {total} unread {noun} on Deepiri:\n\n"
        + "\n".join(lines)
        + "\n\nOpen Deepiri to read them. You get this digest once a day; turn it off in "
        "your notification settings.\n"
    )
    return Mail(
        to=to, subject=f"Your Deepiri digest for {day.isoformat()}: {total} unread", text=text
    )
