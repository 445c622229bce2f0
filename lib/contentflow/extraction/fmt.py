"""Numbers as people read them in failure reasons ("212 MB", "60 s")."""

from __future__ import annotations


def size(n: int) -> str:
    """Decimal units, matching the limits' defaults: 212_000_000 -> '212 MB'."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            value = n / factor
            return f"{value:.1f} {unit}" if value < 10 and value != int(value) else f"{value:.0f} {unit}"
    return f"{n} bytes"


def seconds(s: float) -> str:
    return f"{s:g}"


def megapixels(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
