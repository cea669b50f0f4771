"""notification-service's pure rules: quiet hours (windows over midnight, DST in the user's
zone), preferences, delivery plans and which events become notifications."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import msgspec
import pytest

from deepiri_kit.contracts.gamification import BadgeAwarded, CurrencyCredited, LevelUp
from deepiri_kit.contracts.social import FriendAdded, FriendRequested
from deepiri_kit.contracts.tasks import Streak, TaskCompleted
from deepiri_kit.contracts.users import PasswordResetRequested, VerificationRequested
from deepiri_kit.errors import Invalid
from notification_service.domain import notifications as rules
from notification_service.domain.deliveries import Planned, plan
from notification_service.domain.digest import digest_day, digest_key, digest_mail
from notification_service.domain.preferences import (
    DEFAULT_CHANNELS,
    Preferences,
    QuietHours,
    channels_for,
    quiet_until,
    with_changes,
    zone,
)

pytestmark = pytest.mark.unit
PARIS = ZoneInfo("Europe/Paris")
NIGHT = QuietHours(time(22), time(7))
LUNCH = QuietHours(time(12), time(13, 30))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (utc(2026, 1, 10, 20, 59), None),  # 21:59 Paris (UTC+1): before the window
        (utc(2026, 1, 10, 21, 0), utc(2026, 1, 11, 6, 0)),  # 22:00 exactly: starts, to 07:00
        (utc(2026, 1, 10, 23, 30), utc(2026, 1, 11, 6, 0)),  # 00:30 after midnight
        (utc(2026, 1, 11, 5, 59), utc(2026, 1, 11, 6, 0)),  # 06:59
        (utc(2026, 1, 11, 6, 0), None),  # 07:00: the end is excluded
        (utc(2026, 1, 11, 12, 0), None),  # midday
    ],
)
def test_a_window_over_midnight(now: datetime, until: datetime | None) -> None:
    assert quiet_until(now, PARIS, NIGHT) == until


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (utc(2026, 7, 1, 9, 59), None),  # 11:59 Paris (UTC+2)
        (utc(2026, 7, 1, 10, 0), utc(2026, 7, 1, 11, 30)),
        (utc(2026, 7, 1, 11, 29), utc(2026, 7, 1, 11, 30)),
        (utc(2026, 7, 1, 11, 30), None),
    ],
)
def test_a_window_within_the_day(now: datetime, until: datetime | None) -> None:
    assert quiet_until(now, PARIS, LUNCH) == until


def test_the_window_follows_local_time_across_dst() -> None:
    # Paris leaves summer time on 2026-10-25 at 03:00 local: the night is an hour longer in
    # UTC, but it still ends at 07:00 on the wall clock.
    assert quiet_until(utc(2026, 10, 24, 20, 30), PARIS, NIGHT) == utc(2026, 10, 25, 6, 0)
    # The night before summer time starts (2026-03-29, 02:00 → 03:00): 07:00 local is 05:00 UTC.
    assert quiet_until(utc(2026, 3, 28, 21, 30), PARIS, NIGHT) == utc(2026, 3, 29, 5, 0)
    # 22:00 local is 20:00 UTC in summer and 21:00 UTC in winter.
    assert quiet_until(utc(2026, 7, 1, 20, 0), PARIS, NIGHT) is not None
    assert quiet_until(utc(2026, 1, 1, 20, 0), PARIS, NIGHT) is None


def test_an_end_inside_the_spring_forward_gap() -> None:
    # 02:30 does not exist in Paris on 2026-03-29; read with the offset before the jump
    # (UTC+1) it is 01:30 UTC, i.e. 03:30 summer time: after the gap, not before it.
    gap = QuietHours(time(1), time(2, 30))
    end = quiet_until(utc(2026, 3, 29, 0, 30), PARIS, gap)  # 01:30 winter time
    assert end == utc(2026, 3, 29, 1, 30)
    assert end.astimezone(PARIS).time() == time(3, 30)


def test_the_ambiguous_autumn_hour_is_read_by_the_clock() -> None:
    # 02:00-03:00 happens twice in Paris on 2026-10-25; both are in a 01:00-04:00 window.
    window = QuietHours(time(1), time(4))
    first = utc(2026, 10, 25, 0, 30)  # 02:30 summer time
    second = utc(2026, 10, 25, 1, 30)  # 02:30 winter time
    assert quiet_until(first, PARIS, window) == quiet_until(second, PARIS, window)
    assert quiet_until(first, PARIS, window) == utc(2026, 10, 25, 3, 0)


def test_other_zones_and_no_quiet_hours() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert quiet_until(utc(2026, 1, 10, 14, 0), tokyo, NIGHT) == utc(2026, 1, 10, 22, 0)
    assert quiet_until(utc(2026, 1, 10, 14, 0), tokyo, None) is None
    with pytest.raises(ValueError, match="aware"):
        quiet_until(datetime(2026, 1, 1), PARIS, NIGHT)


def test_quiet_hours_need_a_real_window() -> None:
    with pytest.raises(Invalid):
        QuietHours(time(8), time(8))
    with pytest.raises(Invalid):
        QuietHours(time(8, tzinfo=UTC), time(9))


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime"])
def test_unknown_zones_are_invalid(name: str) -> None:
    with pytest.raises(Invalid):
        zone(name)


def test_preference_changes_replace_only_what_they_name() -> None:
    prefs = with_changes(Preferences(), channels={"reward": ["push", "in_app"]})
    assert prefs.channels["reward"] == {"push", "in_app"}
    assert prefs.channels["badge"] == DEFAULT_CHANNELS["badge"]
    quiet = with_changes(prefs, quiet_hours=NIGHT, time_zone="Asia/Tokyo")
    assert (quiet.quiet_hours, quiet.time_zone, quiet.channels) == (
        NIGHT,
        "Asia/Tokyo",
        prefs.channels,
    )
    assert with_changes(quiet, quiet_hours=None).quiet_hours is None
    assert with_changes(quiet).time_zone == "Asia/Tokyo"
    assert with_changes(prefs, channels={"badge": []}).channels["badge"] == frozenset()


@pytest.mark.parametrize(
    "change",
    [
        {"channels": {"account": []}},  # account mail cannot be switched off
        {"channels": {"gossip": ["push"]}},
        {"channels": {"badge": ["pigeon"]}},
        {"time_zone": "Nowhere/Land"},
    ],
)
def test_bad_preference_changes_are_invalid(change: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(Invalid):
        with_changes(Preferences(), **change)


def test_account_mail_always_goes_by_email() -> None:
    prefs = with_changes(Preferences(), channels={"badge": []})
    assert channels_for(prefs, "account") == {"email"}
    assert channels_for(prefs, "badge") == frozenset()


def test_the_plan_holds_push_and_email_until_quiet_hours_end() -> None:
    prefs = with_changes(
        Preferences(quiet_hours=NIGHT), channels={"badge": ["in_app", "push", "email"]}
    )
    late = utc(2026, 1, 10, 22, 0)  # 23:00 Paris
    assert plan("badge", prefs, now=late, profile_zone="Europe/Paris") == [
        Planned("in_app", late),
        Planned("push", utc(2026, 1, 11, 6, 0)),
        Planned("email", utc(2026, 1, 11, 6, 0)),
    ]
    # The preference's own zone wins over the profile's; UTC when neither is known.
    tokyo = with_changes(prefs, time_zone="Asia/Tokyo")  # 07:00 there: the night is over
    assert plan("badge", tokyo, now=late, profile_zone="Europe/Paris")[1].not_before == late
    in_utc = plan("badge", prefs, now=late, profile_zone=None)[1].not_before
    assert in_utc == utc(2026, 1, 11, 7, 0)
    # Only channels the service can use; account mail is never held.
    assert plan("badge", prefs, now=late, profile_zone="Europe/Paris", available=["in_app"]) == [
        Planned("in_app", late)
    ]
    assert plan("account", prefs, now=late, profile_zone="Europe/Paris") == [Planned("email", late)]


def _credited(amounts: dict[str, int]) -> CurrencyCredited:
    return CurrencyCredited(
        user_id="u1",
        entry_key="k",
        kind="task_completed",
        reason="Completed “Write report”",
        amounts=amounts,
        balances={"xp": 10},
        level=1,
    )


def test_which_events_become_notifications() -> None:
    draft = rules.reward(_credited({"xp": 10, "coins": 5, "gems": 0}))
    assert draft is not None
    assert (draft.kind, draft.title) == ("reward", "You earned 5 coins, 10 xp")
    assert rules.reward(_credited({"xp": 0})) is None
    from_badge = msgspec.structs.replace(_credited({"coins": 10}), ref={"badge_id": "b1"})
    assert rules.reward(from_badge) is None  # the badge's notification says it
    up = rules.level_up(
        LevelUp(user_id="u", level=3, previous_level=2, xp=2000, xp_to_next_level=1000)
    )
    assert (up.kind, up.title, up.data["level"]) == ("level_up", "Level 3!", 3)
    event = BadgeAwarded(
        user_id="u",
        badge_id="b1",
        name="Early bird",
        description="Done before 8",
        category="time",
        rarity="rare",
    )
    badge = rules.badge(event)
    assert (badge.kind, badge.title, badge.body) == (
        "badge",
        "Badge earned: Early bird",
        "Done before 8",
    )
    paid = rules.badge(msgspec.structs.replace(event, reward={"coins": 10}))
    assert paid.body == "Done before 8 (+10 coins)"
    assert paid.data["reward"] == {"coins": 10}


@pytest.mark.parametrize(
    ("current", "notified"), [(None, False), (2, False), (3, True), (7, True), (8, False)]
)
def test_only_streak_milestones_notify(current: int | None, notified: bool) -> None:
    event = TaskCompleted(
        task_id="t1",
        kind="daily",
        difficulty="easy",
        completed_at=utc(2026, 1, 1),
        streak=None if current is None else Streak(current=current, best=current),
        title="Run",
    )
    draft = rules.streak(event)
    assert (draft is not None) is notified
    if draft is not None:
        assert draft.data == {"task_id": "t1", "streak": current}


def test_account_mail_carries_the_link() -> None:
    args = {
        "user_id": "u1",
        "email": "ada@example.org",
        "locale": "en",
        "link": "https://deepiri.example/verify?t=secret",
        "expires_at": utc(2026, 1, 1, 12),
    }
    verify = rules.mail(VerificationRequested(**args))  # type: ignore[arg-type]
    reset = rules.mail(PasswordResetRequested(**args))  # type: ignore[arg-type]
    assert verify.to == reset.to == "ada@example.org"
    assert "Confirm" in verify.subject
    assert "Reset" in reset.subject
    assert args["link"] in verify.text
    assert "2026-01-01 12:00 UTC" in reset.text


def test_notification_ids_are_one_per_user_and_event() -> None:
    assert rules.notification_id("u1", "e1") == rules.notification_id("u1", "e1")
    assert rules.notification_id("u1", "e1") != rules.notification_id("u2", "e1")
    # Length-prefixed: ("u1", "0e") and ("u10", "e") stay apart.
    assert rules.notification_id("u1", "0e") != rules.notification_id("u10", "e")
    assert len(rules.notification_id("u", "e")) == 32


def test_device_registrations_are_checked() -> None:
    from notification_service.domain.devices import device_id, new_device

    now = utc(2026, 1, 1)
    apns = new_device(
        user_id="u", provider="apns", platform="ios", token="AB" * 32, app_version="1.2.3", now=now
    )
    assert apns.token == "ab" * 32  # hex tokens compare lower-cased
    assert apns.id == device_id("apns", "ab" * 32)
    fcm_token = "fcm-token:" + "x" * 40
    fcm = new_device(
        user_id="u", provider="fcm", platform="android", token=fcm_token, app_version="2", now=now
    )
    assert fcm.id != apns.id
    bad = [
        {"provider": "pigeon"},
        {"platform": "toaster"},
        {"provider": "apns", "platform": "android", "token": "ab" * 32},
        {"provider": "apns", "platform": "ios", "token": "zz" * 32},
        {"provider": "apns", "platform": "ios", "token": "ab" * 8},
        {"token": "short"},
        {"token": "has spaces in it and is long enough"},
        {"app_version": "1.0 beta"},
    ]
    for change in bad:
        args = {"provider": "fcm", "platform": "android", "token": fcm_token, "app_version": "1"}
        with pytest.raises(Invalid):
            new_device(user_id="u", now=now, **(args | change))


def test_challenge_results_notify() -> None:
    from deepiri_kit.contracts.challenges import ChallengeCompleted

    won = rules.challenge(
        ChallengeCompleted(challenge_id="c1", difficulty="very_hard", points=1000)
    )
    assert (won.kind, won.title) == ("challenge", "Challenge complete!")
    assert won.body == "You beat a very hard challenge for 1000 points."
    lost = rules.challenge(ChallengeCompleted(challenge_id="c2", difficulty="easy", passed=False))
    assert lost.title == "Challenge not passed"
    assert lost.data == {"challenge_id": "c2", "passed": False, "points": 0}


def test_friend_requests_and_new_friends_notify_the_other_person() -> None:
    asked = rules.friend_request(FriendRequested(user_id="ann", friend_id="bob"), "Ann")
    assert (asked.kind, asked.title) == ("friend_request", "Ann wants to be friends")
    assert asked.data == {"user_id": "ann"}
    added = rules.friend_added(FriendAdded(user_id="bob", friend_id="ann"), None)
    assert (added.kind, added.title) == ("friend", "Someone is now your friend")
    # Both are types a user can route: in-app and push by default.
    assert channels_for(Preferences(), "friend_request") == {"in_app", "push"}
    quiet = with_changes(Preferences(), channels={"friend": ["email"]})
    assert channels_for(quiet, "friend") == {"email"}


def test_a_notification_by_mail() -> None:
    n = rules.Notification(
        id="n1",
        user_id="ann",
        kind="level_up",
        title="Level 3!",
        body="You reached level 3.",
        data={},
        created_at=utc(2026, 12, 1, 8),
        read_at=None,
        event_id="e1",
        event_type="gamification.level_up",
    )
    mail = rules.notification_mail(n, "ann@example.org")
    assert (mail.to, mail.subject) == ("ann@example.org", "Level 3!")
    assert mail.text.startswith("You reached level 3.")
    assert "level up notifications" in mail.text


TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("now", "hour", "day"),
    [
        (utc(2026, 11, 30, 22, 59), 8, None),  # 07:59 in Tokyo
        (utc(2026, 11, 30, 23, 0), 8, date(2026, 12, 1)),  # 08:00 in Tokyo
        (utc(2026, 12, 1, 14, 59), 8, date(2026, 12, 1)),  # 23:59: still that day's
        (utc(2026, 12, 1, 15, 0), 8, None),  # midnight: the next day, not yet 08:00
        (utc(2026, 12, 1, 15, 0), 0, date(2026, 12, 2)),
    ],
)
def test_the_digest_is_due_from_its_local_hour(now: datetime, hour: int, day: date | None) -> None:
    assert digest_day(now, TOKYO, hour) == day


def test_the_digest_hour_across_dst() -> None:
    # Paris: 08:00 is 07:00 UTC in winter, 06:00 UTC in summer.
    assert digest_day(utc(2026, 1, 10, 6, 59), PARIS, 8) is None
    assert digest_day(utc(2026, 1, 10, 7, 0), PARIS, 8) == date(2026, 1, 10)
    assert digest_day(utc(2026, 7, 10, 6, 0), PARIS, 8) == date(2026, 7, 10)
    with pytest.raises(ValueError, match="aware"):
        digest_day(datetime(2026, 7, 10, 6), PARIS, 8)


def test_digest_keys_and_mail() -> None:
    day = date(2026, 12, 1)
    assert digest_key("ann", day) == "digest:3:ann:2026-12-01"
    unread = [
        rules.Notification(
            id=f"n{i}",
            user_id="ann",
            kind="badge",
            title=f"Badge {i}",
            body="Well done",
            data={},
            created_at=utc(2026, 12, 1, 8),
            read_at=None,
            event_id=f"e{i}",
            event_type="gamification.badge_awarded",
        )
        for i in range(25)
    ]
    mail = digest_mail("ann@example.org", day, unread, 30)
    assert mail.subject == "Your Deepiri digest for 2026-12-01: 30 unread"
    assert mail.text.count("- Badge ") == 20
    assert "… and 10 more." in mail.text
    one = digest_mail("ann@example.org", day, unread[:1], 1)
    assert "You have 1 unread notification on" in one.text


def test_the_digest_hour_is_a_preference() -> None:
    on = with_changes(Preferences(), digest_hour=8)
    assert on.digest_hour == 8
    assert with_changes(on, channels={"badge": []}).digest_hour == 8
    assert with_changes(on, digest_hour=None).digest_hour is None
    with pytest.raises(Invalid, match="0-23"):
        with_changes(Preferences(), digest_hour=24)
