"""Cron expressions of `schedule`: checked when config.yaml loads (etl.core.cron, no scheduler),
run by APScheduler in the daemon — with crontab's meaning, weekdays included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.core.cron import parse
from etl.daemon import trigger

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 27, 12, 0, tzinfo=ZONE)  # a Friday


def fire_times(expression: str, n: int = 20) -> list[datetime]:
    schedule = trigger(parse(expression), ZONE)
    out: list[datetime] = []
    previous = None
    now = START
    for _ in range(n):
        nxt = schedule.get_next_fire_time(previous, now)
        if nxt is None:
            break
        out.append(nxt)
        previous, now = nxt, nxt
    return out


def cron_weekday(moment: datetime) -> int:
    """crontab's day of the week: 0 = Sunday."""
    return (moment.weekday() + 1) % 7


@pytest.mark.parametrize(("expression", "days"), [
    ("0 3 * * 0", {0}),
    ("0 3 * * 7", {0}),
    ("0 3 * * sun", {0}),
    ("0 3 * * 1-5", {1, 2, 3, 4, 5}),
    ("0 3 * * 5-7", {5, 6, 0}),
    ("0 3 * * */2", {0, 2, 4, 6}),
    ("0 3 * * mon,wed", {1, 3}),
])
def test_weekdays_count_as_in_crontab(expression: str, days: set[int]) -> None:
    times = fire_times(expression)
    assert times and {cron_weekday(t) for t in times} == days
    assert all((t.hour, t.minute) == (3, 0) for t in times)


@pytest.mark.parametrize(("expression", "problem"), [
    ("0 3 * *", "needs 5 fields"),
    ("61 * * * *", "minute '61': 61 is outside 0-59"),
    ("0 3 * * 8", "day of week '8': 8 is outside 0-7"),
    ("0 3 31-1 * *", "day of month '31-1': range '31-1' runs backwards"),
    ("*/0 * * * *", "a step must be at least 1"),
    ("0 3 L * *", "value 'l' is not a number"),
    ("0 3 * foo *", "value 'foo' is not a number"),
])
def test_a_wrong_expression_names_the_field(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse(expression)


def _field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    if names:
        value = value | st.sampled_from(names)
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ab: f"{min(ab)}-{max(ab)}")
    part = st.one_of(value, span, st.builds(lambda s, n: f"{s}/{n}", span | st.just("*"),
                                            st.integers(1, 9)))
    return st.just("*") | st.lists(part, min_size=1, max_size=3).map(",".join)


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@settings(max_examples=150, deadline=None)
@given(st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12, MONTHS),
                 _field(0, 7, DAYS)))
def test_every_accepted_expression_fires_exactly_when_crontab_says(fields) -> None:
    """A property against a reference: each fire time's minute, hour, day, month and weekday
    are among the values the field stands for (day and weekday both restricting: both)."""
    expression = " ".join(fields)
    wanted = {name: _expand(text, *bounds) for name, text, bounds in zip(
        ("minute", "hour", "day", "month", "weekday"), fields,
        ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, MONTHS), (0, 7, DAYS)), strict=True)}
    wanted["weekday"] = {d % 7 for d in wanted["weekday"]}
    for t in fire_times(expression, 8):
        got = {"minute": t.minute, "hour": t.hour, "day": t.day, "month": t.month,
               "weekday": cron_weekday(t)}
        assert all(got[k] in wanted[k] for k in got), (expression, t)


def _expand(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """Reference expansion of one field (independent of etl.core.cron)."""
    def value(v: str) -> int:
        return names.index(v) + (1 if names is MONTHS else 0) if v in names else int(v)

    out: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = map(value, span.split("-"))
        else:
            first = value(span)
            last = high if step else first
        out |= set(range(first, last + 1, int(step or 1)))
    return out


@settings(max_examples=100, deadline=None)
@given(st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12, MONTHS),
                 _field(0, 7, DAYS)))
def test_the_next_run_is_the_one_apscheduler_fires(fields) -> None:
    """`etl status` shows the next run without a scheduler: the same time APScheduler fires.
    Compared in UTC: APScheduler 3 steps days by 24 hours, so across a change to summer time
    it can land an hour late (agronholm/apscheduler#529: '* * 1 * 4' after November 2026 gives
    1 April 2027 01:00 in Berlin; the first minute of that day is 00:00)."""
    schedule = parse(" ".join(fields))
    start = START.astimezone(UTC)
    expected = trigger(schedule, UTC).get_next_fire_time(None, start + timedelta(seconds=1))
    assert schedule.next_after(start) == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("* * 1 * 4", datetime(2027, 4, 1, 0, 0, tzinfo=ZONE)),  # after summer time began
    ("* * 1 1 0", datetime(2034, 1, 1, 0, 0, tzinfo=ZONE)),  # New Year on a Sunday: 7 years
    ("0 3 29 2 *", datetime(2028, 2, 29, 3, 0, tzinfo=ZONE)),  # a leap day
    ("0 3 29 2 1", datetime(2044, 2, 29, 3, 0, tzinfo=ZONE)),  # a leap day on a Monday
])
def test_a_rare_schedule_is_found_years_ahead(expression: str, expected: datetime) -> None:
    assert parse(expression).next_after(START) == expected


def test_a_schedule_that_never_fires_says_so() -> None:
    with pytest.raises(ValueError, match="never fires"):
        parse("0 3 30 2 *").next_after(START)
