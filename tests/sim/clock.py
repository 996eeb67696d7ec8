"""Time helpers: the simulator's "now", the real clock, ISO 8601 parsing and formatting.

Every date the simulator serves is computed from one instant, its "now": the real
clock when it starts (to the second), or the --now it is given. So its data is the
same from one request to the next while it runs (and on every run pinned to the
same --now), and by default it is as recent as a real account's: its current
month is the real one, whatever the date.
"""

from datetime import datetime, timedelta, timezone

MILLISECOND = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def wall_clock():
    """The real clock, in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_iso(text):
    """An aware UTC datetime from ISO 8601 text; ValueError if it is not one."""
    value = datetime.fromisoformat(text.strip().replace(" ", "+"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def iso(moment, millis=False):
    """UTC ISO 8601 with a Z: 2026-11-15T12:00:00Z (or ...00.000Z)."""
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def epoch_ms(moment):
    return int(moment.timestamp() * 1000)


def month_start(moment):
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment):
    """The first instant of the month after moment's month."""
    start = month_start(moment)
    return (start + timedelta(days=32)).replace(day=1)


def floor_hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)
