"""Durations in manifests: an int of seconds, or a string such as ``90s``, ``30m``, ``2h``, ``1h30m``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")
DURATION_PATTERN = r"^(?=[0-9])([0-9]+h)?([0-9]+m)?([0-9]+s)?$"


def parse_duration(value: Any) -> Any:
    """Turn ``"90s"``/``"30m"``/``"2h"``/``"1h30m"`` into seconds; pass ints through; reject the rest."""
    if isinstance(value, bool):
        raise PydanticCustomError("duration", "must be a duration such as 90s, 30m or 2h, or seconds as an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and value.strip():
            hours, minutes, seconds = (int(match.group(g) or 0) for g in ("h", "m", "s"))
            return hours * 3600 + minutes * 60 + seconds
    raise PydanticCustomError("duration", "must be a duration such as 90s, 30m or 2h, or seconds as an integer")


def _non_negative(seconds: int) -> int:
    if seconds < 0:
        raise PydanticCustomError("duration", "must not be negative")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest ``1h30m``-style spelling of a number of seconds (``0s`` for zero)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


#: Seconds as an int in Python; in YAML either an int or a duration string.
Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    AfterValidator(_non_negative),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "description": "seconds"},
                {"type": "string", "pattern": DURATION_PATTERN, "description": "e.g. 90s, 30m, 2h, 1h30m"},
            ]
        }
    ),
]
