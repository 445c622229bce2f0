"""Dates as formats write them (PDF "D:20241014093000+01'00'", ISO 8601, EXIF), to ISO 8601.
Anything that does not parse is dropped: a wrong date is worse than none."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_PDF = re.compile(
    r"^D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:(Z)|([+-])(\d{2})'?(\d{2})?'?)?"
)
_EXIF = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})$")


def _iso(parts: list[int], tz: timezone | None) -> str | None:
    try:
        return datetime(*parts, tzinfo=tz).isoformat()
    except ValueError:
        return None


def pdf_date(value: str | None) -> str | None:
    match = _PDF.match((value or "").strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zulu, sign, tzh, tzm = match.groups()
    tz = None
    if zulu:
        tz = timezone.utc
    elif sign:
        offset = timedelta(hours=int(tzh), minutes=int(tzm or 0))
        tz = timezone(-offset if sign == "-" else offset)
    return _iso([int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                 int(second or 0)], tz)


def iso_date(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    match = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$", value)  # "2024", "2024-06"
    if match:
        return _iso([int(match[1]), int(match[2] or 1), int(match[3] or 1)], None)
    return None


def exif_date(value: str | None) -> str | None:
    match = _EXIF.match((value or "").strip().rstrip("\x00"))
    return _iso([int(g) for g in match.groups()], None) if match else None
