"""Schedule expressions as EventBridge reads them, and the fast-forwardable scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relay.emulator.fronts.schedules import ScheduleError, Scheduler, parse

T0 = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(1 minute)", T0, T0 + timedelta(minutes=1)),
        ("rate(2 hours)", T0, T0 + timedelta(hours=2)),
        ("rate(7 days)", T0, T0 + timedelta(days=7)),
        ("cron(0 10 * * ? *)", T0, datetime(2026, 12, 5, 10, 0, tzinfo=UTC)),
        # AWS numbers days 1-7 from SUN: 2-6 is MON-FRI, so Monday the 7th.
        ("cron(0 10 ? * 2-6 *)", T0, datetime(2026, 12, 7, 10, 0, tzinfo=UTC)),
        ("cron(15 8 ? * MON-FRI *)", T0, datetime(2026, 12, 7, 8, 15, tzinfo=UTC)),
        ("cron(0/15 * * * ? *)", T0, datetime(2026, 12, 5, 9, 45, tzinfo=UTC)),
        ("cron(0 12 L * ? *)", T0, datetime(2026, 12, 31, 12, 0, tzinfo=UTC)),
        ("cron(0 18 ? * 6L *)", T0, datetime(2026, 12, 25, 18, 0, tzinfo=UTC)),  # last Friday
        ("cron(0 8 1 1 ? 2028)", T0, datetime(2028, 1, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_next_firing(expression: str, after: datetime, expected: datetime) -> None:
    assert parse(expression).next_after(after, created=after) == expected


def test_a_past_year_never_fires() -> None:
    assert parse("cron(0 8 1 1 ? 2020)").next_after(T0) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(5 minute)", "plural"),
        ("rate(1 minutes)", "singular"),
        ("rate(0 minutes)", "positive"),
        ("every 5 minutes", "neither rate"),
        ("cron(0 10 * * *)", "six fields"),
        ("cron(0 10 * * MON *)", "exactly one"),
        ("cron(0 99 * * ? *)", "not a valid cron"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse(expression)


def test_scheduler_fires_each_period_once_when_fast_forwarded() -> None:
    scheduler = Scheduler()
    scheduler.add("five", parse("rate(5 minutes)"), T0)
    scheduler.add("hourly", parse("cron(0 * * * ? *)"), T0)
    assert scheduler.pop_due(T0 + timedelta(minutes=4)) == []
    fired = scheduler.pop_due(T0 + timedelta(minutes=31))
    assert fired == [
        ("five", T0 + timedelta(minutes=5)),
        ("five", T0 + timedelta(minutes=10)),
        ("five", T0 + timedelta(minutes=15)),
        ("five", T0 + timedelta(minutes=20)),
        ("five", T0 + timedelta(minutes=25)),
        ("five", T0 + timedelta(minutes=30)),
        ("hourly", datetime(2026, 12, 5, 10, 0, tzinfo=UTC)),
    ]
    assert scheduler.pop_due(T0 + timedelta(minutes=31)) == []
    assert scheduler.next_due() == T0 + timedelta(minutes=35)
