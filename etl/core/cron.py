"""Core: the cron expressions of ``schedule`` — checked when config.yaml loads, without a
scheduler, and handed to the daemon as explicit values.

Five fields as in crontab (minute, hour, day of month, month, day of week), or six with seconds
first. Each field is ``*``, a number or name, a range ``a-b``, a step ``*/n``, ``a-b/n`` or
``a/n``, or a list of these. Days of the week count as in crontab: 0 and 7 are Sunday (APScheduler
3 counts from Monday, so every field is expanded here into the values it stands for). A day of
month and a day of week given together must both match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")
_BOUNDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "day": (1, 31),
           "month": (1, 12), "day_of_week": (0, 7)}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's 0..6 (7 = sun again)
_NAMES = {"month": {n: i for i, n in enumerate(_MONTHS, 1)},
          "day_of_week": {n: i for i, n in enumerate(WEEKDAYS)}}


@dataclass(frozen=True)
class CronSchedule:
    """A checked cron expression; ``fields`` are the values per field, as keyword arguments of
    APScheduler's CronTrigger (weekdays by name)."""

    expression: str
    fields: dict[str, str]
    values: dict[str, frozenset[int]] = field(default_factory=dict)  # absent: any value

    def next_after(self, moment: datetime) -> datetime:
        """The first time after ``moment`` (aware) the schedule fires, in ``moment``'s zone;
        days are looked at one by one, then hours, minutes, seconds. 28 years at most: the
        calendar's weekdays and leap days repeat after that (until 2100), so a schedule not
        found by then never fires (30 February; 29 February on a Monday is 28 years away)."""
        local = moment.replace(microsecond=0)
        day = local.date()
        for _ in range(28 * 366):
            if self._takes("month", day.month) and self._takes("day", day.day) and \
                    self._takes("day_of_week", (day.weekday() + 1) % 7):
                found = self._first_on(day, local)
                if found is not None:
                    return found
            day += timedelta(days=1)
        raise ValueError(f"cron expression {self.expression!r} never fires")

    def _takes(self, name: str, value: int) -> bool:
        return name not in self.values or value in self.values[name]

    def _first_on(self, day: date, after: datetime) -> datetime | None:
        def span(name: str, high: int) -> list[int]:
            return sorted(self.values.get(name, range(high + 1)))

        seconds = span("second", 59) if "second" in self.fields else [0]
        for hour in span("hour", 23):
            for minute in span("minute", 59):
                for second in seconds:
                    at = datetime.combine(day, time(hour, minute, second), after.tzinfo)
                    if at > after:
                        return at
        return None


def parse(expression: str) -> CronSchedule:
    """The schedule of a cron expression; raises ValueError naming the field that is wrong."""
    parts = expression.split()
    names = FIELDS[1:] if len(parts) == 5 else FIELDS if len(parts) == 6 else None
    if names is None:
        raise ValueError(f"cron expression {expression!r} needs 5 fields (or 6 with seconds "
                         "first)")
    fields = {}
    values: dict[str, frozenset[int]] = {}
    for name, text in zip(names, parts, strict=True):
        try:
            expanded = _values(name, text.lower())
        except ValueError as exc:
            label = "day of month" if name == "day" else name.replace("_", " ")
            raise ValueError(f"cron expression {expression!r}, {label} {text!r}: {exc}") from None
        fields[name] = _render(name, expanded) if expanded is not None else "*"
        if expanded is not None:
            values[name] = frozenset(expanded)
    return CronSchedule(expression, fields, values)


def _values(field: str, text: str) -> set[int] | None:
    """The values a field stands for; None for a plain ``*``."""
    if text == "*":
        return None
    low, high = _BOUNDS[field]
    out: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, "step") if step_text else 1
        if step < 1:
            raise ValueError("a step must be at least 1")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, _, last_text = span.partition("-")
            first, last = _value(field, first_text), _value(field, last_text)
            if first > last:
                raise ValueError(f"range {span!r} runs backwards")
        else:
            first = _value(field, span)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    if field == "day_of_week":
        out = {day % 7 for day in out}
    return out


def _value(field: str, text: str) -> int:
    low, high = _BOUNDS[field]
    if text in _NAMES.get(field, {}):
        return _NAMES[field][text]
    value = _number(text, "value")
    if not low <= value <= high:
        names = f" or {', '.join(_NAMES[field])}" if field in _NAMES else ""
        raise ValueError(f"{value} is outside {low}-{high}{names}")
    return value


def _number(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{what} {text!r} is not a number")
    return int(text)


def _render(field: str, values: set[int]) -> str:
    if field == "day_of_week":
        return ",".join(WEEKDAYS[day] for day in sorted(values, key=lambda d: (d + 6) % 7))
    return ",".join(map(str, sorted(values)))
