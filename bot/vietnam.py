"""Vietnam's time: UTC+7 all year (no daylight saving), the calendar learners and reports use.

A learner abroad may choose their own zone (IANA name, like "Asia/Tokyo") for their day and
their reminders; everything else (reports, certificates) stays on Vietnam's calendar.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

OFFSET = timedelta(hours=7)
TZ = timezone(OFFSET, "ICT")
NAME = "Asia/Ho_Chi_Minh"


@cache
def zone(name: str | None) -> tzinfo:
    """The zone called `name` (IANA); Vietnam's for None or a name that is not known."""
    if not name or name == NAME:
        return TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return TZ


@cache
def known_zone(name: str) -> str | None:
    """`name` as the IANA database spells it ("asia/tokyo" -> "Asia/Tokyo"); None if unknown."""
    wanted = name.strip().replace(" ", "_").casefold()
    for candidate in available_timezones():
        if candidate.casefold() == wanted:
            return candidate
    return None


def local(moment: datetime, zone_name: str | None = None) -> datetime:
    """An aware UTC time as wall-clock time in Vietnam (or in the zone named)."""
    return moment.astimezone(zone(zone_name))


def day(moment: datetime, zone_name: str | None = None) -> date:
    return local(moment, zone_name).date()
