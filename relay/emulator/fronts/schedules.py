"""EventBridge schedule expressions (`rate(5 minutes)`, `cron(0 12 * * ? *)`) and a
scheduler whose clock the caller drives, so tests fast-forward instead of waiting.

AWS cron has six fields (minutes hours day-of-month month day-of-week year), `?` for "no
value", and numbers 1-7 for SUN-SAT in day-of-week; croniter evaluates the first five once
they are translated, relay checks the year itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from croniter import croniter

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """The expression is not one EventBridge accepts; the message says which part."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    period: timedelta | None = None  # rate()
    cron: str | None = None  # five-field cron for croniter
    years: frozenset[int] | None = None  # None: every year

    def next_after(self, moment: datetime, *, created: datetime | None = None) -> datetime | None:
        """The first firing strictly after `moment` (rates count from `created`)."""
        if self.period is not None:
            start = created or moment
            elapsed = (moment - start) // self.period + 1 if moment >= start else 0
            return start + self.period * max(elapsed, 1)
        assert self.cron is not None
        iterator = croniter(self.cron, moment.astimezone(UTC))
        for _ in range(10000):
            candidate: datetime = iterator.get_next(datetime)
            if self.years is None or candidate.year in self.years:
                return candidate
            if self.years and candidate.year > max(self.years):
                return None
        return None


def _years(field_text: str) -> frozenset[int] | None:
    if field_text in ("*", "?"):
        return None
    years: set[int] = set()
    for part in field_text.split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            years.update(range(int(low), int(high) + 1))
        elif "/" in part:
            start, step = part.split("/", 1)
            years.update(range(int(start), 2200, int(step)))
        else:
            years.add(int(part))
    return frozenset(years)


def _day_of_week(field_text: str) -> str:
    """AWS numbers days 1-7 from Sunday; cron 0-6. `6L` and `2#1` keep their suffix."""

    def shift(match: re.Match[str]) -> str:
        return str(int(match.group(0)) - 1)

    if field_text in ("?", "*"):
        return "*"
    shifted = re.sub(r"(?<![#\d])[1-7](?![\d])", shift, field_text)
    return re.sub(r"^(\d)L$", r"L\1", shifted)  # croniter writes "last Friday" as L5


def parse(expression: str) -> Schedule:
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ScheduleError(f"{expression}: the rate must be a positive number")
        if (value == 1) != (rate.group(2) == unit):
            raise ScheduleError(
                f"{expression}: EventBridge wants the singular unit for 1 and the plural above"
            )
        return Schedule(text, period=timedelta(seconds=value * _UNITS[unit]))
    cron = _CRON.match(text)
    if not cron:
        raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{expression}: cron() takes six fields (minutes hours day-of-month month "
            f"day-of-week year), got {len(fields)}"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{expression}: exactly one of day-of-month and day-of-week is '?'")
    five = " ".join([minutes, hours, "*" if dom == "?" else dom, month, _day_of_week(dow)])
    if not croniter.is_valid(five):
        raise ScheduleError(f"{expression}: not a valid cron expression")
    try:
        years = _years(year)
    except ValueError:
        raise ScheduleError(f"{expression}: year field {year!r} is not understood") from None
    return Schedule(text, cron=five, years=years)


@dataclass
class _Entry:
    name: str
    schedule: Schedule
    created: datetime
    due: datetime | None


@dataclass
class Scheduler:
    """Which rules are due at a given moment; the caller supplies the time (real or not)."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def add(self, name: str, schedule: Schedule, now: datetime) -> None:
        self.entries[name] = _Entry(name, schedule, now, schedule.next_after(now, created=now))

    def next_due(self) -> datetime | None:
        dues = [e.due for e in self.entries.values() if e.due is not None]
        return min(dues) if dues else None

    def pop_due(self, now: datetime) -> list[tuple[str, datetime]]:
        """(rule, scheduled time) for every firing up to `now`, each rule once per period."""
        fired = []
        for entry in self.entries.values():
            while entry.due is not None and entry.due <= now:
                fired.append((entry.name, entry.due))
                entry.due = entry.schedule.next_after(entry.due, created=entry.created)
        return sorted(fired, key=lambda item: item[1])
