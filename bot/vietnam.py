"""Vietnam's time: UTC+7 all year (no daylight saving), the calendar learners and reports use."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

OFFSET = timedelta(hours=7)
TZ = timezone(OFFSET, "ICT")


def local(moment: datetime) -> datetime:
    """An aware UTC time as Vietnam's wall-clock time."""
    return moment.astimezone(TZ)


def day(moment: datetime) -> date:
    return local(moment).date()
