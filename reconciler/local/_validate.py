"""Strict checks of request bodies and query strings: unknown fields and wrong types are 400s."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from reconciler.local._errors import invalid

ID_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DURATION_RE = re.compile(r"^\d+(\.\d{1,9})?s$")

# JSON types per field: "str", "int", "num", "bool", "obj", "list", "strmap", "strlist"
Spec = Mapping[str, str]


def check_object(value: Any, spec: Spec, where: str) -> dict[str, Any]:
    """``value`` as a dict whose keys are all in ``spec`` and whose values have the right types."""
    if not isinstance(value, dict):
        raise invalid(f"{where}: expected a JSON object")
    for key, item in value.items():
        kind = spec.get(key)
        if kind is None:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
            )
        if item is None:
            continue
        _check_type(item, kind, f"{where}.{key}")
    return {k: v for k, v in value.items() if v is not None}


def _check_type(item: Any, kind: str, where: str) -> None:
    ok = {
        "str": isinstance(item, str),
        "int": isinstance(item, int) and not isinstance(item, bool),
        "num": isinstance(item, int | float) and not isinstance(item, bool),
        "bool": isinstance(item, bool),
        "obj": isinstance(item, dict),
        "list": isinstance(item, list),
        "strmap": isinstance(item, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in item.items()),
        "strlist": isinstance(item, list) and all(isinstance(v, str) for v in item),
    }[kind]
    if kind == "int" and isinstance(item, str) and item.lstrip("-").isdigit():
        ok = True  # proto-JSON allows int64 as a string
    if not ok:
        expected = {"strmap": "a map of strings", "strlist": "a list of strings", "obj": "an object"}.get(
            kind, kind
        )
        raise invalid(f"Invalid value at '{where}': expected {expected}, got {type(item).__name__}")


def query_bool(query: Mapping[str, str], key: str) -> bool:
    raw = query.get(key)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid(f"Invalid value for query parameter {key}: {raw!r} (expected true or false)")


def check_enum(value: str, allowed: tuple[str, ...] | list[str], where: str) -> None:
    if value not in allowed:
        raise invalid(f"Invalid value at '{where}': {value!r} is not one of {', '.join(allowed)}")


def check_id(value: str, what: str) -> None:
    if not ID_RE.match(value):
        raise invalid(
            f"invalid {what} {value!r}: use 1-63 lowercase letters, digits and '-', starting and ending "
            "with a letter or digit"
        )


def parse_duration(value: str, where: str) -> float:
    if not DURATION_RE.match(value):
        raise invalid(f"Invalid value at '{where}': {value!r} is not a duration like \"1800s\"")
    return float(value[:-1])


# -- pagination -----------------------------------------------------------------------------------


def paginate(items: list[Any], page_size_raw: str | None, token: str | None) -> tuple[list[Any], str]:
    """A page of ``items`` and the next page token ("" on the last page)."""
    try:
        page_size = int(page_size_raw) if page_size_raw else 50
    except ValueError:
        raise invalid(f"Invalid value for pageSize: {page_size_raw!r}") from None
    if page_size < 0:
        raise invalid("pageSize must be >= 0")
    page_size = min(page_size or 50, 200)
    offset = 0
    if token:
        try:
            decoded = base64.urlsafe_b64decode(token.encode() + b"==").decode()
            if not decoded.startswith("o:"):
                raise ValueError(decoded)
            offset = int(decoded[2:])
        except (ValueError, UnicodeDecodeError):
            raise invalid(f"Invalid pageToken {token!r}") from None
    page = items[offset : offset + page_size]
    end = offset + page_size
    next_token = (
        base64.urlsafe_b64encode(f"o:{end}".encode()).decode().rstrip("=") if end < len(items) else ""
    )
    return page, next_token


def parse_filter(raw: str | None, allowed: Mapping[str, str]) -> dict[str, str]:
    """A loose AIP-160 subset: ``a=b AND c="d"``. Keys map to output field names."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for clause in re.split(r"\s+AND\s+", raw.strip()):
        key, sep, value = clause.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise invalid(
                f"Unsupported filter {raw!r}: use {' / '.join(sorted(allowed))} = value, joined by AND"
            )
        out[allowed[key]] = value.strip().strip('"')
    return out


def quota_exceeded(quota: str, what: str, required: float, available: float) -> Exception:
    """The platform's answer to a create or scale over a GPU quota: 429 RESOURCE_EXHAUSTED with a quota
    message (cookbook error reference), not the capacity error (which is retried and says "no capacity").

    Issue 15 (helper H7); H3 may refine the 429-vs-RESOURCE_EXHAUSTED shapes here."""
    from reconciler.local._errors import ApiError

    return ApiError(429, f"Quota exceeded for quota {quota}: {what} needs {required:g}, "
                         f"{available:g} available (quota_required={required:g}, quota_available={available:g})")
